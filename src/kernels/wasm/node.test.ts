import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { backendStarted } from '../backend_ops';
import { maxAbsDiff } from '../conv_testing';
import { installKernels } from '../install';
import { simdModuleBytes, simdModuleFor } from '../wasm_module';
import { MAX_WASM_THREADS, defaultWasmThreads, installNodeWasmThreads, wasmThreadsInUse } from './node';
import { nodeSimdThreadPool } from './pool_node';
import { simdKernelCalls, type WasmHeapBackend } from './runtime';

// One wasm backend per process: this file starts the threaded build (vitest runs each file in its own fork).

/** Values and gradients of a small conv + dense net, on whatever backend is active. */
function convNetGradients(seed: number) {
  return tf.tidy(() => {
    const x = tf.randomUniform([16, 20, 20, 8], -1, 1, 'float32', seed) as tf.Tensor4D;
    const w1 = tf.randomUniform([3, 3, 8, 16], -0.3, 0.3, 'float32', seed + 1) as tf.Tensor4D;
    const w2 = tf.randomUniform([3, 3, 16, 32], -0.3, 0.3, 'float32', seed + 2) as tf.Tensor4D;
    const w3 = tf.randomUniform([3, 3, 32, 32], -0.3, 0.3, 'float32', seed + 4) as tf.Tensor4D;
    const dense = tf.randomUniform([32, 10], -0.3, 0.3, 'float32', seed + 3) as tf.Tensor2D;
    const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, e: tf.Tensor, d: tf.Tensor) => {
      const h1 = tf.relu(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'));
      const h2 = tf.relu(tf.conv2d(h1, c as tf.Tensor4D, 2, 'same'));
      const h3 = tf.relu(tf.conv2d(h2, e as tf.Tensor4D, 1, 'same')); // 10x10x32: the Winograd form
      const pooled = tf.mean(h3, [1, 2]) as tf.Tensor2D;
      return tf.sum(tf.square(tf.matMul(pooled, d as tf.Tensor2D)));
    };
    const { value, grads } = tf.valueAndGrads(f)([x, w1, w2, w3, dense]);
    return [value, ...grads].map((t) => t.dataSync().slice());
  });
}

afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('installNodeWasmThreads', () => {
  it('rejects thread counts outside 1..8 with the allowed range and the default', () => {
    for (const bad of [0, MAX_WASM_THREADS + 1, 1.5, Number.NaN]) {
      expect(() => installNodeWasmThreads(bad)).toThrow(
        /threads must be an integer from 1 to 8 .*omit it for tfjs' default/,
      );
    }
    expect(defaultWasmThreads()).toBeGreaterThanOrEqual(1);
    expect(defaultWasmThreads()).toBeLessThanOrEqual(MAX_WASM_THREADS);
    // nothing was replaced by the failed calls: the backend has not started
    expect(backendStarted('wasm')).toBe(false);
  });

  it('starts the threaded build with the asked-for threads even on fewer cores, and computes what cpu does', async () => {
    const cpu = convNetGradients(11);
    expect(installNodeWasmThreads(3)).toEqual({ threads: 3, threaded: true });
    expect(await tf.setBackend('wasm')).toBe(true);
    installKernels('wasm');
    // tfjs alone gives min(asked, logical cores / 2) threads: 1 on a 2-core machine, 0 workers in Node
    expect(wasmThreadsInUse()).toBe(3);
    expect(getThreadsCount()).toBe(3);
    // the XNNPACK pool is up: its pthreads are running workers of the threaded module
    const module = (tf.backend() as unknown as { wasm: { PThread?: { runningWorkers: unknown[] } } }).wasm;
    expect(module.PThread?.runningWorkers.length).toBe(2); // the main thread is the third
    const before = { ...simdKernelCalls };
    const wasm = convNetGradients(11);
    const calls = (kernel: string) => (simdKernelCalls[kernel] ?? 0) - (before[kernel] ?? 0);
    // two conv filter gradients and the dense layer's weight gradient (xᵀ·dy) ran in the project's SIMD
    // filter-gradient kernel; the third conv, its filter gradient, its input gradient and the first conv's (x has
    // one too) in the Winograd kernels; the strided input gradient in phases; all split over its own 3-thread pool
    expect(calls('filterGrad')).toBe(3);
    expect(calls('winogradFilterGrad')).toBe(1);
    expect(calls('winograd')).toBe(1);
    expect(calls('inputGradWinograd')).toBe(2);
    expect(calls('inputGrad')).toBe(1);
    expect(simdModuleFor(tf.backend() as unknown as WasmHeapBackend)?.threads).toBe(3);
    expect(wasm).toHaveLength(cpu.length);
    cpu.forEach((expected, i) => {
      const scale = Math.max(1, ...Array.from(expected, Math.abs));
      expect(maxAbsDiff(wasm[i], expected) / scale).toBeLessThan(1e-4);
    });
  });

  it('the SIMD pool reports a kernel that traps on a worker, and keeps working after it', () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 2, shared: true });
    const pool = nodeSimdThreadPool(3)(new WebAssembly.Module(simdModuleBytes(true)), memory);
    expect(pool.threads).toBe(3);
    // filterGrad over one image and one tap whose table lies outside the memory: an out-of-bounds trap
    const share = (table: number) => [0, 0, 0, 1, 1, table, 8, 0, 0, 0, 0, 0, 0, 4, 0, 8];
    const noTaps = [0, 0, 0, 1, 0, 0, 8, 0, 0, 0, 0, 0, 0, 4, 0, 8];
    expect(() => pool.run('filterGrad', [noTaps, share(1 << 30)])).toThrow(
      /filterGrad kernel failed on a worker thread \(thread 1: RuntimeError: memory access out of bounds\)/,
    );
    expect(() => pool.run('filterGrad', [share(1 << 30)])).toThrow(/memory access out of bounds/);
    expect(() => pool.run('filterGrad', [noTaps, noTaps, noTaps])).not.toThrow();
    expect(() => pool.run('filterGrad', [noTaps, noTaps, noTaps, noTaps])).toThrow(/4 shares for 3 threads/);
  });

  it('refuses to run once the backend has started, naming the fix', () => {
    expect(() => installNodeWasmThreads(2)).toThrow(
      /already started with 3 thread\(s\); call installNodeWasmThreads before initBackend/,
    );
  });
});
