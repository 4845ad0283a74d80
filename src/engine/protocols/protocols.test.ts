import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { parseRunConfig, type RunConfigInput } from '../config';
import { openDataset } from '../data/index';
import type { EngineEvent, ProtocolEvalEvent, StartedEvent, StepEvent } from '../events';
import { Trainer } from '../trainer';
import { tinyConfig } from '../trainer_testing';
import { subsetSplit } from './common';
import { fewShotSchema } from './config';
import { buildTargetSplit, patternMask } from './contrastive_analysis';
import { rowsOfClasses, splitClasses } from './few_shot';
import {
  describeProtocolResult,
  type ContrastiveAnalysisResult,
  type FewShotResult,
  type FineTuneResult,
} from './results';

async function run(overrides: RunConfigInput): Promise<EngineEvent[]> {
  await tf.setBackend('cpu');
  const config = parseRunConfig(tinyConfig(overrides));
  const dataset = await openDataset({ id: 'synthetic', seed: config.seed, ...config.dataset.synthetic });
  const events: EngineEvent[] = [];
  const trainer = await Trainer.create(config, { dataset, onEvent: (e) => events.push(e) });
  try {
    await trainer.run();
  } finally {
    trainer.dispose();
  }
  expect(events.filter((e) => e.type === 'error')).toEqual([]);
  return events;
}

const protocolEvents = (events: EngineEvent[]) =>
  events.filter((e): e is ProtocolEvalEvent => e.type === 'protocol-eval');

const tenClasses = {
  id: 'synthetic',
  synthetic: { classes: 10, trainCount: 120, testCount: 120, size: 8, channels: 3 },
} as const;

describe('few-shot class split', () => {
  const config = (input: object) => fewShotSchema.parse({ type: 'few-shot', ...input });

  it('pretrains on the first half by default and holds out the rest', () => {
    expect(splitClasses(config({}), 10)).toEqual({ pretrain: [0, 1, 2, 3, 4], heldOut: [5, 6, 7, 8, 9] });
    expect(splitClasses(config({ pretrainClasses: [4, 1], ways: 3 }), 6)).toEqual({
      pretrain: [1, 4],
      heldOut: [0, 2, 3, 5],
    });
  });

  it('refuses a class the dataset lacks and too few held-out classes for the ways, naming the fix', () => {
    expect(() => splitClasses(config({ pretrainClasses: [7] }), 6)).toThrow(/class 7 does not exist.*0\.\.5/);
    expect(() => splitClasses(config({ ways: 5 }), 8)).toThrow(
      /5-way.*4 of the 8 classes.*lower protocol.ways/,
    );
  });

  it('takes the rows of the chosen classes in row order, at most perClass each', () => {
    const labels = [3, 1, 3, 0, 1, 3, 1];
    expect(rowsOfClasses(labels, [1, 3])).toEqual([0, 1, 2, 4, 5, 6]);
    expect(rowsOfClasses(labels, [1, 3], 2)).toEqual([0, 1, 2, 4]);
    const split = {
      images: Uint8Array.from([10, 11, 20, 21, 30, 31]),
      labels: Int32Array.from([5, 6, 7]),
      count: 3,
    };
    expect(subsetSplit(split, [2, 0])).toEqual({
      images: Uint8Array.from([30, 31, 10, 11]),
      labels: Int32Array.from([7, 5]),
      count: 2,
    });
  });
});

describe('contrastive-analysis data', () => {
  it('draws each salient pattern where its definition says (4 x 4 image, period 2)', () => {
    const grid = (kind: number) => Array.from(patternMask(kind, 4, 4)).join('');
    // rows top to bottom, 4 pixels each
    expect(grid(0)).toBe('1111' + '1111' + '0000' + '0000'); // horizontal stripes: floor(y / 2) even
    expect(grid(1)).toBe('1100' + '1100' + '1100' + '1100'); // vertical stripes
    expect(grid(2)).toBe('1100' + '1100' + '0011' + '0011'); // checkerboard
    expect(grid(3)).toBe('1100' + '1001' + '0011' + '0110'); // diagonal: floor((x + y) / 2) even
    expect(grid(4)).toBe('1100' + '1100' + '0000' + '0000'); // top-left third: x, y < 4/3
    expect(grid(5)).toBe('1111' + '1111' + '1111' + '1111'); // frame 2 wide covers a 4 x 4 image
    expect(() => patternMask(6, 4, 4)).toThrow(/pattern 6 does not exist/);
  });

  it('blends the pattern into target rows only, keeps labels, and is seeded', () => {
    const count = 40;
    const split = {
      images: Uint8Array.from({ length: count * 4 * 4 }, (_, i) => i % 7),
      labels: Int32Array.from({ length: count }, (_, i) => i % 3),
      count,
    };
    const settings = { targetFraction: 0.5, patterns: 2, strength: 1 };
    const a = buildTargetSplit(split, [4, 4, 1], settings, 11);
    const b = buildTargetSplit(split, [4, 4, 1], settings, 11);
    const c = buildTargetSplit(split, [4, 4, 1], settings, 12);
    expect(a.groups).toEqual(b.groups);
    expect(a.patterns).toEqual(b.patterns);
    expect(a.groups).not.toEqual(c.groups);
    expect(a.split.labels).toBe(split.labels);
    const targets = Array.from(a.groups).filter((g) => g === 1).length;
    expect(targets).toBeGreaterThan(5);
    expect(targets).toBeLessThan(35);
    for (let i = 0; i < count; i++) {
      const before = split.images.subarray(i * 16, (i + 1) * 16);
      const after = a.split.images.subarray(i * 16, (i + 1) * 16);
      if (a.groups[i] === 0) {
        expect(a.patterns[i]).toBe(-1);
        expect(after).toEqual(before);
        continue;
      }
      const mask = patternMask(a.patterns[i], 4, 4);
      // strength 1: pattern pixels become 255, the others keep their value
      expect(Array.from(after)).toEqual(Array.from(before, (v, p) => (mask[p] ? 255 : v)));
    }
    expect(new Set(Array.from(a.patterns).filter((p) => p >= 0))).toEqual(new Set([0, 1]));
  });
});

describe('protocols in the trainer', () => {
  it('few-shot: pretrains on the pretraining classes only and scores seeded episodes on the held-out ones', async () => {
    const protocol = {
      type: 'few-shot' as const,
      shots: [1, 3],
      queries: 4,
      episodes: 20,
      imagesPerClass: 12,
    };
    const overrides: RunConfigInput = {
      dataset: tenClasses,
      epochs: 0.5,
      eval: { every: 2, size: 32, bankSize: 32, knnK: 5, pca: false },
      protocol,
    };
    const events = await run(overrides);
    const started = events.find((e): e is StartedEvent => e.type === 'started')!;
    // batches of 8 over about half of the 120 images (the full split would give 15 per epoch)
    expect(started.stepsPerEpoch).toBeGreaterThanOrEqual(3);
    expect(started.stepsPerEpoch).toBeLessThanOrEqual(11);
    const results = protocolEvents(events);
    const evalSteps = events.filter((e) => e.type === 'eval').map((e) => e.step);
    expect(results.map((e) => e.step)).toEqual(evalSteps);
    const last = results.at(-1)!.result as FewShotResult;
    expect(last.kind).toBe('few-shot');
    expect(last.pretrainClasses).toEqual([0, 1, 2, 3, 4]);
    expect(last.heldOutClasses).toEqual([5, 6, 7, 8, 9]);
    expect(last.scores.map((s) => s.shots)).toEqual([1, 3]);
    for (const score of last.scores) {
      expect(score.accuracy).toBeGreaterThanOrEqual(0);
      expect(score.accuracy).toBeLessThanOrEqual(1);
      expect(score.ci95).toBeGreaterThan(0);
      expect(score.optaAccuracy).not.toBeNull();
    }
    expect(describeProtocolResult(last)).toMatch(/5-way 1-shot .*%.*OpTA/);
    // the same seed gives the same episodes and scores
    const again = protocolEvents(await run(overrides)).at(-1)!.result;
    expect(again).toEqual(last);
    // OpTA off: plain accuracies unchanged, no OpTA numbers
    const plain = protocolEvents(
      await run({ ...overrides, protocol: { ...protocol, opta: { enabled: false } } }),
    );
    const plainScores = (plain.at(-1)!.result as FewShotResult).scores;
    expect(plainScores.map((s) => s.accuracy)).toEqual(last.scores.map((s) => s.accuracy));
    expect(plainScores.every((s) => s.optaAccuracy === null)).toBe(true);
  });

  it('fine-tune from the weights as they are: no pretraining, linear probe, plain and Core-tuning test accuracy', async () => {
    const events = await run({
      protocol: {
        type: 'fine-tune',
        from: 'weights',
        epochs: 1,
        stepsPerEpoch: 4,
        batchSize: 8,
        evalEvery: 2,
        coreTuning: { contrastDim: 8 },
      },
    });
    expect(events.filter((e): e is StepEvent => e.type === 'step')).toEqual([]);
    const results = protocolEvents(events).map((e) => e.result as FineTuneResult);
    expect(results.length).toBeGreaterThanOrEqual(5); // probe, 2 points per variant, the final one
    const final = results.at(-1)!;
    expect(final.done).toBe(true);
    expect(results.slice(0, -1).every((r) => !r.done)).toBe(true);
    expect(final.linearProbe).toBeGreaterThanOrEqual(0);
    expect(final.variants.map((v) => v.variant)).toEqual(['plain', 'core-tuning']);
    for (const variant of final.variants) {
      expect(variant.totalSteps).toBe(4);
      expect(variant.points.map((p) => p.step)).toEqual([2, 4]);
      for (const point of variant.points) {
        expect(Number.isFinite(point.trainLoss)).toBe(true);
        expect(point.testAccuracy).toBeGreaterThanOrEqual(0);
        expect(point.testAccuracy).toBeLessThanOrEqual(1);
      }
    }
    // the regulariser is part of Core-tuning's loss: its training loss differs from plain cross-entropy's
    expect(final.variants[1].points[0].trainLoss).not.toBeCloseTo(final.variants[0].points[0].trainLoss, 3);
    expect(events.at(-1)!.type).toBe('finished');
  });

  it('contrastive analysis with SepCLR scores the common and the salient space on the target images', async () => {
    const events = await run({
      loss: { id: 'sepclr', params: {} },
      epochs: 0.25,
      eval: { every: 0, size: 32, bankSize: 64, knnK: 5, pca: false },
      protocol: { type: 'contrastive-analysis', patterns: 2, evalImages: 40 },
    });
    const results = protocolEvents(events).map((e) => e.result as ContrastiveAnalysisResult);
    expect(results.length).toBeGreaterThanOrEqual(1);
    const last = results.at(-1)!;
    expect(last.patterns).toEqual(['horizontal stripes', 'vertical stripes']);
    expect(last.chance).toEqual({ salient: 0.5, class: 0.25 });
    expect(last.salient).not.toBeNull();
    for (const space of [last.common, last.salient!])
      for (const value of Object.values(space)) expect(value).toBeGreaterThanOrEqual(0);
    expect(last.targetImages).toBeGreaterThan(0);
    expect(describeProtocolResult(last)).toMatch(/common: .*; salient: /);
  });

  it('contrastive analysis with a baseline objective has no salient space', async () => {
    const events = await run({
      epochs: 0.25,
      protocol: { type: 'contrastive-analysis', patterns: 2, evalImages: 40 },
    });
    const last = protocolEvents(events).at(-1)!.result as ContrastiveAnalysisResult;
    expect(last.salient).toBeNull();
  });

  it('refuses SepCLR without the contrastive-analysis protocol', () => {
    expect(() => parseRunConfig(tinyConfig({ loss: { id: 'sepclr', params: {} } }))).toThrow(
      /protocol.type to 'contrastive-analysis'/,
    );
    expect(() => parseRunConfig(tinyConfig({ protocol: { type: 'few-shot', shots: [1, 1] } }))).toThrow(
      /a K is listed twice/,
    );
    expect(() => parseRunConfig(tinyConfig({ protocol: { type: 'few-shot', way: 5 } as never }))).toThrow(
      /unknown field 'way' \(did you mean 'ways'\?\)/,
    );
  });
});
