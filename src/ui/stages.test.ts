import { describe, expect, it } from 'vitest';
import { stageLabel, stageStarts } from './stages';
import type { StepPoint } from './types';

const point = (step: number, stage?: number): StepPoint => ({
  step,
  epoch: step / 10,
  loss: 1,
  lr: 0.001,
  imagesPerSecond: 1,
  ...(stage !== undefined ? { stage } : {}),
});

describe('stageStarts', () => {
  it('lists the first step of every stage after the first', () => {
    const steps = [1, 2, 3, 4, 5, 6, 7].map((s) => point(s, s <= 3 ? 1 : s <= 5 ? 2 : 3));
    expect(stageStarts(steps, 'mcl')).toEqual([
      { stage: 2, step: 4, label: 'stage 2' },
      { stage: 3, step: 6, label: 'stage 3' },
    ]);
  });

  it('is empty without stages or without a change, and names the stages from the catalogue', () => {
    expect(stageStarts([point(1), point(2)], 'ntxent')).toEqual([]);
    expect(stageStarts([point(1, 1), point(2, 1)], 'mcl')).toEqual([]);
    // a history resumed mid-run starts in stage 2: no marker until the stage changes
    expect(stageStarts([point(8, 2), point(9, 2), point(10, 3)], 'mcl')).toEqual([
      { stage: 3, step: 10, label: 'stage 3' },
    ]);
    expect(stageStarts([point(1, 1), point(2, 2)], 'm3col')).toEqual([
      { stage: 2, step: 2, label: 'SoftCLIP' },
    ]);
    expect(stageLabel('m3col', 1)).toBe('M3Co (mixup)');
    expect(stageLabel('mcl', 4)).toBe('stage 4');
  });
});
