// Test support (not shipped code): a tiny seeded Trainer run on a chosen backend, for cross-backend comparisons.
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { parseRunConfig, type RunConfigInput } from './config';
import { openDataset } from './data/index';
import type { EngineEvent, EvalEvent, StepEvent } from './events';
import { Trainer } from './trainer';

/** A run small enough for the cpu backend: synthetic 8x8 images, a 2-stage convnet, batch 8, one epoch. */
export function tinyConfig(overrides: RunConfigInput = {}): RunConfigInput {
  return {
    dataset: {
      id: 'synthetic',
      synthetic: { classes: 4, trainCount: 64, testCount: 32, size: 8, channels: 3 },
    },
    encoder: { type: 'convnet', channels: [4, 8] },
    projector: { layers: 2, hidden: 16, out: 8, batchNorm: true },
    loss: { id: 'ntxent', params: { tau: 0.5 } },
    batchSize: 8,
    epochs: 1,
    optimizer: { type: 'adamw', lr: 0.01 },
    eval: { every: 0, size: 32, bankSize: 64, knnK: 10, pca: false },
    checkpointEvery: 0,
    ...overrides,
  };
}

/**
 * Trains tinyConfig at batch 16 for 2 steps (64 images, half an epoch) on `backend`, with `overrides` on top;
 * fails on any error event. Returns the step losses and the eval events.
 */
export async function tinyRun(
  backend: string,
  overrides: RunConfigInput = {},
): Promise<{ losses: number[]; evals: EvalEvent[] }> {
  await tf.setBackend(backend);
  const config = parseRunConfig(tinyConfig({ batchSize: 16, epochs: 0.5, ...overrides }));
  const dataset = await openDataset({ id: 'synthetic', seed: config.seed, ...config.dataset.synthetic });
  const events: EngineEvent[] = [];
  const trainer = await Trainer.create(config, { dataset, onEvent: (e) => events.push(e) });
  try {
    await trainer.run();
  } finally {
    trainer.dispose();
  }
  expect(events.filter((e) => e.type === 'error')).toEqual([]);
  return {
    losses: events.filter((e): e is StepEvent => e.type === 'step').map((e) => e.loss),
    evals: events.filter((e): e is EvalEvent => e.type === 'eval'),
  };
}
