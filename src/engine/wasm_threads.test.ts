import os from 'node:os';
import type { ChildProcess } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { installNodeWasmThreads, wasmThreadsInUse } from '../kernels/wasm/node';
import { cpuBurners, stopAll } from '../kernels/wasm/pool_testing';
import { initBackend } from './backend';
import { parseRunConfig } from './config';
import { openDataset } from './data/index';
import type { EngineEvent, EvalEvent, StepEvent } from './events';
import { tinyConfig, tinyRun } from './trainer_testing';
import { Trainer } from './trainer';

// One wasm backend per process: this file starts the threaded build (vitest runs each file in its own fork).

/** Step losses of a tiny seeded NT-Xent run. */
async function losses(backend: 'cpu' | 'wasm'): Promise<number[]> {
  return (await tinyRun(backend, { seed: 5 })).losses;
}

/**
 * The CLI's pattern in small: a ResNet (its second stage in Winograd form), an evaluation and a checkpoint after
 * every other step, so SIMD kernel rounds, XNNPACK's own pthreads, kNN evaluation and checkpoint readbacks follow
 * one another. Returns the step losses, the eval metrics and the checkpoint steps; fails on an error event.
 */
async function resnetRunWithEvals() {
  const config = parseRunConfig(
    tinyConfig({
      dataset: {
        id: 'synthetic',
        synthetic: { classes: 4, trainCount: 128, testCount: 64, size: 16, channels: 3 },
      },
      encoder: { type: 'resnet', widths: [16, 32], blocks: [1, 1] },
      batchSize: 32,
      epochs: 1,
      eval: { every: 2, size: 64, bankSize: 128, knnK: 10, pca: false },
      checkpointEvery: 2,
      seed: 3,
    }),
  );
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
    knn: events.filter((e): e is EvalEvent => e.type === 'eval').map((e) => e.h.knnTop1),
    checkpoints: events.flatMap((e) => (e.type === 'checkpoint' ? [e.step] : [])),
  };
}

let burners: ChildProcess[] = [];

afterEach(() => {
  stopAll(burners);
  burners = [];
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('training on the threaded wasm build (installNodeWasmThreads)', () => {
  it('trains: the same loss curve as the cpu backend for the same seed, without leaking tensors', async () => {
    // the CLI's --threads 2 of a busy 2-core machine; a stuck kernel fails within 30 s instead of hanging
    expect(installNodeWasmThreads(2, { watchdogMs: 30_000 })).toEqual({ threads: 2, threaded: true });
    const report = await initBackend({ preferred: 'wasm', environment: 'node' });
    expect(report.active).toBe('wasm');
    expect(wasmThreadsInUse()).toBe(2);
    const reference = await losses('cpu');
    const before = tf.memory().numTensors;
    const threaded = await losses('wasm');
    expect(tf.memory().numTensors).toBe(before);
    expect(threaded).toHaveLength(reference.length);
    expect(reference.length).toBeGreaterThanOrEqual(2);
    threaded.forEach((loss, i) => expect(loss).toBeCloseTo(reference[i], 3));
  });

  it('a ResNet run with evaluations and checkpoints between steps completes on a busy machine, with the same results', async () => {
    await tf.setBackend('wasm');
    const quiet = await resnetRunWithEvals();
    expect(quiet.losses).toHaveLength(4);
    expect(quiet.knn.length).toBeGreaterThanOrEqual(2);
    expect(quiet.checkpoints.length).toBeGreaterThanOrEqual(2);
    // every core busy with a burner: the pool's workers and tfjs' pthreads are descheduled at random
    burners = cpuBurners(os.availableParallelism());
    const busy = await resnetRunWithEvals();
    expect(busy).toEqual(quiet);
  });
});
