// The trainer with the objectives that need more than augmented views: pixpro (crop geometry, spatial maps, the
// dense diagnostic) and cmim (clean inputs, a decoder, the informative representation).
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Rng } from '../nn/random';
import { makeViews } from './augment';
import { parseRunConfig, type RunConfigInput } from './config';
import { openDataset } from './data/index';
import type { EngineEvent, EvalEvent, StepEvent } from './events';
import { Trainer } from './trainer';
import { tinyConfig } from './trainer_testing';
import { trainingViews } from './views';

const PIXPRO: RunConfigInput['loss'] = { id: 'pixpro', params: { pixHidden: 8, pixDim: 4, predHidden: 8 } };
const CMIM: RunConfigInput['loss'] = { id: 'cmim', params: { decoderWidth: 4 } };

async function run(overrides: RunConfigInput, until?: number, restore?: Uint8Array) {
  const config = parseRunConfig(tinyConfig(overrides));
  const dataset = await openDataset({ id: 'synthetic', seed: config.seed, ...config.dataset.synthetic });
  const events: EngineEvent[] = [];
  const trainer = await Trainer.create(config, { dataset, onEvent: (e) => events.push(e) });
  if (restore) trainer.restore(restore);
  const outcome = await trainer.run(until === undefined ? {} : { untilStep: until });
  const bytes = until === undefined ? null : await trainer.checkpoint();
  trainer.dispose();
  expect(events.filter((e) => e.type === 'error')).toEqual([]);
  return {
    outcome,
    bytes,
    losses: events.filter((e): e is StepEvent => e.type === 'step').map((e) => e.loss),
    evals: events.filter((e): e is EvalEvent => e.type === 'eval'),
  };
}

function images(seed: number): tf.Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(
    Float32Array.from({ length: 4 * 8 * 8 * 3 }, () => rng.next()),
    [4, 8, 8, 3],
  );
}

describe('training views by objective', () => {
  it('augmented views for the usual losses, the same views with geometry for pixpro, the clean images for cmim', () => {
    const x = images(1);
    const ntxent = parseRunConfig(tinyConfig());
    const plain = trainingViews(x, ntxent, new Rng(5));
    const expected = makeViews(x, ntxent.augment, ntxent.views, new Rng(5));
    expect(plain.geometry).toBeNull();
    plain.views.forEach((v, i) => expect(v.dataSync()).toEqual(expected[i].dataSync()));

    const pixpro = parseRunConfig(tinyConfig({ loss: PIXPRO }));
    const geometric = trainingViews(x, pixpro, new Rng(5));
    geometric.views.forEach((v, i) => expect(v.dataSync()).toEqual(expected[i].dataSync()));
    expect(geometric.geometry!.map((g) => g.length)).toEqual([4, 4]);

    const cmim = parseRunConfig(tinyConfig({ loss: CMIM, views: { large: 1 } }));
    const rng = new Rng(5);
    const clean = trainingViews(x, cmim, rng);
    expect(clean.views).toHaveLength(1);
    expect(clean.views[0].dataSync()).toEqual(x.dataSync());
    // no augmentation: nothing was drawn from the step's random stream
    expect(rng.next()).toBe(new Rng(5).next());
    tf.dispose([x, ...plain.views, ...expected, ...geometric.views, ...clean.views]);
  });

  it('the config refuses pixpro without a spatial map or with small views, and cmim with two views', () => {
    expect(() => parseRunConfig(tinyConfig({ loss: PIXPRO, encoder: { type: 'mlp', hidden: [8] } }))).toThrow(
      /encoder: loss 'pixpro' pairs pixels of the backbone's spatial map; the mlp encoder has none/,
    );
    expect(() => parseRunConfig(tinyConfig({ loss: PIXPRO, views: { large: 1, small: 1 } }))).toThrow(
      /views\.small: loss 'pixpro' compares two views of the same size/,
    );
    expect(() => parseRunConfig(tinyConfig({ loss: CMIM }))).toThrow(
      /views: loss 'cmim' needs 1 views in total, the config gives 2/,
    );
  });
});

describe('runs of pixel-level and encoder-decoder objectives', () => {
  it('pixpro trains, reports the dense consistency of its maps, and resumes exactly from a checkpoint', async () => {
    const overrides: RunConfigInput = {
      loss: PIXPRO,
      epochs: 0.75,
      eval: { every: 3, size: 32, bankSize: 64, knnK: 10, pca: false },
    };
    const full = await run(overrides);
    expect(full.losses).toHaveLength(6);
    expect(full.losses.every(Number.isFinite)).toBe(true);
    expect(full.evals.map((e) => e.step)).toEqual([0, 3, 6]);
    for (const e of full.evals) {
      const dense = e.dense!;
      expect(dense.images).toBe(32);
      expect(dense.threshold).toBe(0.7);
      expect(dense.pairsPerImage).toBeGreaterThan(0);
      for (const value of [dense.matched!, dense.unmatched!]) {
        expect(value).toBeGreaterThanOrEqual(-1);
        expect(value).toBeLessThanOrEqual(1);
      }
      expect(e.informative).toBeUndefined();
    }
    // the dense views are the same at every evaluation: the numbers move only with the weights
    expect(full.evals[0].dense!.pairsPerImage).toBe(full.evals[2].dense!.pairsPerImage);
    expect(full.evals[0].dense!.matched).not.toBe(full.evals[2].dense!.matched);
    const first = await run({ ...overrides, eval: { ...overrides.eval, every: 0 } }, 3);
    expect(first.outcome).toBe('yielded');
    const second = await run(
      { ...overrides, eval: { ...overrides.eval, every: 0 } },
      undefined,
      first.bytes!,
    );
    const resumed = [...first.losses, ...second.losses];
    resumed.forEach((value, i) => expect(value).toBeCloseTo(full.losses[i], 5));
  });

  it('cmim trains on clean images, reports its informative embeddings like h and z, and resumes exactly', async () => {
    const overrides: RunConfigInput = {
      loss: CMIM,
      views: { large: 1 },
      epochs: 0.75,
      eval: { every: 3, size: 32, bankSize: 64, knnK: 10, pca: true },
    };
    const full = await run(overrides);
    expect(full.losses).toHaveLength(6);
    expect(full.losses.every(Number.isFinite)).toBe(true);
    for (const e of full.evals) {
      const informative = e.informative!;
      expect(informative.spectrum).toHaveLength(16); // 4 x decoderWidth
      expect(informative.knnTop1).toBeGreaterThanOrEqual(0);
      expect(informative.knnTop1).toBeLessThanOrEqual(1);
      expect(Number.isFinite(informative.alignment)).toBe(true);
      expect(e.dense).toBeUndefined();
    }
    expect(full.evals.at(-1)!.pca!.informative).toHaveLength(2 * 32);
    const first = await run({ ...overrides, eval: { ...overrides.eval, every: 0 } }, 3);
    const second = await run(
      { ...overrides, eval: { ...overrides.eval, every: 0 } },
      undefined,
      first.bytes!,
    );
    const resumed = [...first.losses, ...second.losses];
    resumed.forEach((value, i) => expect(value).toBeCloseTo(full.losses[i], 4));
  });
});
