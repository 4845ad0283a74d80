import { describe, expect, it } from 'vitest';
import { defaultRunConfig } from '../engine/config';
import type { MetricSet } from '../engine/events';
import { fileStem, historyCsv, historyJson } from './exports';
import type { MetricHistory } from './types';

const set = (alignment: number, knnTop1: number): MetricSet => ({
  alignment,
  uniformity: -3,
  tolerance: 0.4,
  spectrum: [3, 2, 1],
  effectiveRank: 2.5,
  knnTop1,
});

const history: MetricHistory = {
  steps: [
    { step: 1, epoch: 0.5, loss: 4.25, lr: 0.001, imagesPerSecond: 100 },
    { step: 2, epoch: 1, loss: 3.5, lr: 0.0005, imagesPerSecond: 120 },
  ],
  evals: [
    {
      type: 'eval',
      step: 0,
      epoch: 0,
      h: set(1.5, 0.1),
      z: set(1.2, 0.12),
      linearProbeTop1: null,
      pca: null,
      evalMs: 1,
    },
    {
      type: 'eval',
      step: 2,
      epoch: 1,
      h: set(0.5, 0.6),
      z: set(0.4, 0.55),
      linearProbeTop1: 0.7,
      pca: null,
      evalMs: 1,
    },
  ],
  revision: 0,
};

describe('historyCsv', () => {
  it('writes one row per step with eval metrics where an eval happened', () => {
    const lines = historyCsv(history).trim().split('\n');
    const header = lines[0].split(',');
    expect(header.slice(0, 5)).toEqual(['step', 'epoch', 'loss', 'lr', 'images_per_second']);
    expect(header).toContain('h_knnTop1');
    expect(header).toContain('z_alignment');
    expect(lines).toHaveLength(4); // header + eval-only step 0 + steps 1, 2
    const rows = lines
      .slice(1)
      .map((line) => Object.fromEntries(line.split(',').map((cell, i) => [header[i], cell])));
    expect(rows[0]).toMatchObject({ step: '0', loss: '', h_knnTop1: '0.1', z_alignment: '1.2' });
    expect(rows[1]).toMatchObject({ step: '1', loss: '4.25', h_knnTop1: '' });
    expect(rows[2]).toMatchObject({
      step: '2',
      loss: '3.5',
      lr: '0.0005',
      h_knnTop1: '0.6',
      z_knnTop1: '0.55',
      linear_probe_top1: '0.7',
    });
  });
});

describe('historyCsv of staged and regression runs', () => {
  it('adds the stage and the regression metrics of h, empty where a run has none', () => {
    const staged: MetricHistory = {
      steps: [
        { step: 1, epoch: 0.5, loss: 4, lr: 0.001, imagesPerSecond: 100, stage: 1 },
        { step: 2, epoch: 1, loss: 3, lr: 0.001, imagesPerSecond: 100, stage: 2 },
      ],
      evals: [
        { ...history.evals[0], stage: 1, regression: { knnMae: 7.5, knnR2: 0.1, linearR2: -0.2 } },
        { ...history.evals[1], stage: 2, regression: { knnMae: 2.25, knnR2: 0.8, linearR2: 0.75 } },
      ],
      revision: 0,
    };
    const lines = historyCsv(staged).trim().split('\n');
    const header = lines[0].split(',');
    expect(header.slice(-4)).toEqual(['stage', 'h_knn_reg_mae', 'h_knn_reg_r2', 'h_linear_r2']);
    const rows = lines
      .slice(1)
      .map((line) => Object.fromEntries(line.split(',').map((cell, i) => [header[i], cell])));
    expect(rows[0]).toMatchObject({ step: '0', stage: '1', h_knn_reg_mae: '7.5', h_linear_r2: '-0.2' });
    expect(rows[1]).toMatchObject({ step: '1', stage: '1', h_knn_reg_r2: '' });
    expect(rows[2]).toMatchObject({ step: '2', stage: '2', h_knn_reg_mae: '2.25', h_knn_reg_r2: '0.8' });
    // a run without stages or targets leaves the four cells empty
    const plain = historyCsv(history).trim().split('\n')[3].split(',');
    expect(plain.slice(-4)).toEqual(['', '', '', '']);
  });
});

describe('historyJson / fileStem', () => {
  it('embeds the config and the full history (with spectra) and parses back', () => {
    const config = defaultRunConfig({ name: 'My Run #1' });
    const run = {
      id: 'run-x',
      config,
      status: 'completed' as const,
      step: 2,
      totalSteps: 2,
      backend: 'webgpu',
    };
    const parsed = JSON.parse(historyJson(run as never, history));
    expect(parsed.config.loss.id).toBe('ntxent');
    expect(parsed.history.evals[1].h.spectrum).toEqual([3, 2, 1]);
    expect(parsed.history.steps).toHaveLength(2);
    expect(fileStem({ id: 'run-x', config })).toBe('my-run-1');
    expect(fileStem({ id: 'run-x', config: defaultRunConfig() })).toBe('run-x');
  });
});

describe('historyCsv with a protocol', () => {
  it('adds the protocol numbers as columns on the rows of their evaluation', () => {
    const withProtocol: MetricHistory = {
      ...history,
      evals: [
        history.evals[0],
        {
          ...history.evals[1],
          protocol: {
            kind: 'few-shot',
            ways: 5,
            queries: 15,
            episodes: 600,
            pretrainClasses: [0, 1, 2, 3, 4],
            heldOutClasses: [5, 6, 7, 8, 9],
            split: 'test',
            scores: [{ shots: 1, accuracy: 0.4, ci95: 0.02, optaAccuracy: 0.45, optaCi95: 0.03 }],
          },
        },
      ],
    };
    const lines = historyCsv(withProtocol).trim().split('\n');
    const header = lines[0].split(',');
    expect(header.slice(-4)).toEqual([
      'fewshot_5way_1shot',
      'fewshot_5way_1shot_ci95',
      'fewshot_5way_1shot_opta',
      'fewshot_5way_1shot_opta_ci95',
    ]);
    const row = (step: number) => lines.find((l) => l.startsWith(`${step},`))!.split(',');
    expect(row(2).slice(-4)).toEqual(['0.4', '0.02', '0.45', '0.03']);
    expect(row(0).slice(-4)).toEqual(['', '', '', '']);
    expect(row(1)).toHaveLength(header.length);
  });
});
