import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { defaultRunConfig, type RunConfigInput } from '../src/engine/config';
import { syntheticDataset } from '../src/engine/data/index';
import type { EngineEvent } from '../src/engine/events';
import { Trainer } from '../src/engine/trainer';

const NO_AUGMENTATION = { crop: null, flip: 0, jitter: null, grayscale: 0 };

/** Trains `steps` steps after `warmup` and samples tf.memory() every `every` steps. */
async function memoryOverSteps(overrides: RunConfigInput, warmup: number, steps: number, every: number) {
  const config = defaultRunConfig({
    dataset: { id: 'synthetic', synthetic: { size: 8, channels: 3, trainCount: 64, testCount: 16 } },
    projector: { layers: 2, hidden: 8, out: 4, batchNorm: true },
    loss: { id: 'ntxent', params: { tau: 0.5 } },
    batchSize: 8,
    epochs: 100, // 8 steps per epoch: 800 steps, more than any test runs, so no end-of-run work starts
    eval: { every: 0, pca: false },
    checkpointEvery: 0,
    ...overrides,
  });
  const errors: string[] = [];
  const losses: number[] = [];
  const onEvent = (event: EngineEvent) => {
    if (event.type === 'error') errors.push(event.message);
    if (event.type === 'step') losses.push(event.loss);
  };
  const trainer = await Trainer.create(config, { dataset: syntheticDataset({ ...config.dataset.synthetic, seed: 1 }), onEvent });
  try {
    // the first steps create the optimizer's moment variables; measure from a warm state
    expect(await trainer.run({ untilStep: warmup })).toBe('yielded');
    const baseline = tf.memory();
    const samples: Array<{ step: number; numTensors: number; numBytes: number }> = [];
    for (let step = warmup + every; step <= warmup + steps; step += every) {
      expect(await trainer.run({ untilStep: step })).toBe('yielded');
      const { numTensors, numBytes } = tf.memory();
      samples.push({ step, numTensors, numBytes });
    }
    expect(errors).toEqual([]);
    expect(losses).toHaveLength(warmup + steps);
    expect(losses.every(Number.isFinite)).toBe(true);
    return { baseline, samples };
  } finally {
    trainer.dispose();
  }
}

// The Trainer's own step path on the cpu backend: a tensor a step forgets to dispose shows up as growth
// proportional to the number of steps.
describe('training memory', () => {
  it('500 steps at a fixed batch on a tiny model do not grow tf.memory().numTensors or numBytes', async () => {
    // augmentations off: they cost ~8x the rest of this tiny step; the next test covers them
    const { baseline, samples } = await memoryOverSteps({ encoder: { type: 'mlp', hidden: [8] }, augment: NO_AUGMENTATION }, 10, 500, 100);
    expect(samples).toHaveLength(5);
    for (const sample of samples) {
      expect(sample).toEqual({ step: sample.step, numTensors: baseline.numTensors, numBytes: baseline.numBytes });
    }
  });

  it('steps with the default augmentations and a conv encoder do not grow memory either', async () => {
    const { baseline, samples } = await memoryOverSteps({ encoder: { type: 'convnet', channels: [4] } }, 5, 30, 10);
    for (const sample of samples) {
      expect(sample).toEqual({ step: sample.step, numTensors: baseline.numTensors, numBytes: baseline.numBytes });
    }
  });
});
