import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { installNodeWasmThreads, wasmThreadsInUse } from '../kernels/wasm/node';
import { initBackend } from './backend';
import { tinyRun } from './trainer_testing';

// One wasm backend per process: this file starts the threaded build (vitest runs each file in its own fork).

/** Step losses of a tiny seeded NT-Xent run. */
async function losses(backend: 'cpu' | 'wasm'): Promise<number[]> {
  return (await tinyRun(backend, { seed: 5 })).losses;
}

afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('training on the threaded wasm build (installNodeWasmThreads)', () => {
  it('trains: the same loss curve as the cpu backend for the same seed, without leaking tensors', async () => {
    expect(installNodeWasmThreads(3)).toEqual({ threads: 3, threaded: true });
    const report = await initBackend({ preferred: 'wasm', environment: 'node' });
    expect(report.active).toBe('wasm');
    expect(wasmThreadsInUse()).toBe(3);
    const reference = await losses('cpu');
    const before = tf.memory().numTensors;
    const threaded = await losses('wasm');
    expect(tf.memory().numTensors).toBe(before);
    expect(threaded).toHaveLength(reference.length);
    expect(reference.length).toBeGreaterThanOrEqual(2);
    threaded.forEach((loss, i) => expect(loss).toBeCloseTo(reference[i], 3));
  });
});
