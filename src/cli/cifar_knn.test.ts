import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatasetFromDir } from './open_dataset';
import { initBackend } from '../engine/backend';
import { parseRunConfig } from '../engine/config';
import type { EngineEvent, EvalEvent } from '../engine/events';
import { Trainer } from '../engine/trainer';

// Real CIFAR-10 from ../shared (never copied into the project); skipped with a note where it is absent.
const CIFAR_DIR = '../shared/datasets/cifar10';
const haveCifar = existsSync(`${CIFAR_DIR}/data_batch_1.bin`) && existsSync(`${CIFAR_DIR}/test_batch.bin`);
if (!haveCifar) console.warn(`skipping the CIFAR-10 training check: ${CIFAR_DIR} is absent`);

afterAll(async () => {
  await tf.setBackend('cpu');
});

/** The run's eval events: step 0 (the randomly initialised encoder) and step 78. */
async function shortRun(lr: number): Promise<[EvalEvent, EvalEvent]> {
  const config = parseRunConfig({
    dataset: { id: 'cifar10', trainLimit: 5000 },
    encoder: { type: 'convnet', channels: [32, 64, 128] },
    projector: { layers: 2, hidden: 128, out: 64, batchNorm: true },
    loss: { id: 'ntxent', params: { tau: 0.2 } },
    augment: {
      crop: { scale: [0.2, 1], ratio: [3 / 4, 4 / 3] },
      flip: 0.5,
      jitter: { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1, p: 0.8 },
      grayscale: 0.2,
    },
    batchSize: 128,
    epochs: 2, // 78 steps
    optimizer: { type: 'adamw', lr },
    eval: { every: 78, size: 2000, bankSize: 5000, knnK: 50, pca: false },
    checkpointEvery: 0,
  });
  const dataset = await openDatasetFromDir(config.dataset, CIFAR_DIR, config.seed);
  const evals: EvalEvent[] = [];
  const trainer = await Trainer.create(config, {
    dataset,
    onEvent: (e: EngineEvent) => e.type === 'eval' && evals.push(e),
  });
  expect(await trainer.run()).toBe('completed');
  trainer.dispose();
  expect(evals[0].step).toBe(0);
  expect(evals.at(-1)!.step).toBe(78);
  return [evals[0], evals.at(-1)!];
}

describe.skipIf(!haveCifar)('a short SimCLR run on real CIFAR-10 (wasm backend)', () => {
  it('lifts kNN top-1 clearly above the randomly initialised encoder, BatchNorm statistics included', async () => {
    await initBackend({ preferred: 'wasm', environment: 'node' });
    const [initial, final] = await shortRun(0.003);
    // the same 78 steps with the weights held still: only BatchNorm's running statistics move (step 0 evaluates
    // with their initial mean 0, variance 1), so this is the random encoder with statistics of the data
    const [, frozen] = await shortRun(1e-12);
    console.log(
      `CIFAR-10 kNN top-1 (h): random init ${(initial.h.knnTop1 * 100).toFixed(1)}%, with the data's BatchNorm ` +
        `statistics ${(frozen.h.knnTop1 * 100).toFixed(1)}%, after 78 steps ${(final.h.knnTop1 * 100).toFixed(1)}%`,
    );
    expect(final.h.knnTop1).toBeGreaterThan(initial.h.knnTop1 + 0.03);
    expect(final.h.knnTop1).toBeGreaterThan(frozen.h.knnTop1 + 0.015);
    // training spreads the embeddings over the sphere (a random projector's z is already of high rank)
    expect(final.z.uniformity).toBeLessThan(frozen.z.uniformity);
  }, 900_000);
});
