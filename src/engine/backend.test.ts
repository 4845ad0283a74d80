import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { initBackend, onDeviceLost, type DeviceLostInfo } from './backend';

/** Node 20 has no navigator; tests that fake one put it back as it was. */
function withFakeNavigator(gpu: object | undefined): () => void {
  const before = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  Object.defineProperty(globalThis, 'navigator', {
    value: gpu === undefined ? {} : { gpu },
    configurable: true,
    writable: true,
  });
  return () => {
    if (before === undefined) Reflect.deleteProperty(globalThis, 'navigator');
    else Object.defineProperty(globalThis, 'navigator', before);
  };
}

// tfjs-backend-wasm registers its kernels on import (backend.ts imports it), before initBackend replaces any
const STOCK_WASM_INPUT_GRADIENT = tf.getKernel(tf.Conv2DBackpropInput, 'wasm')!.kernelFunc;

afterEach(async () => {
  await tf.setBackend('cpu');
});

describe('initBackend', () => {
  it("picks wasm for 'auto' in Node, with the project's conv filter gradient registered", async () => {
    const report = await initBackend({ preferred: 'auto', environment: 'node' });
    expect(report).toEqual({
      active: 'wasm',
      skipped: [],
      kernels: [
        tf.OneHot,
        tf.UnsortedSegmentSum,
        tf.Conv2DBackpropFilter,
        tf.Conv2DBackpropInput,
        tf.Conv2D,
        tf.FusedConv2D,
        tf.GatherV2,
        tf.Identity,
        tf.Cast,
        tf.Sum,
        tf.Mean,
        tf.Multiply,
        tf.Add,
        tf.Sub,
        tf.FusedBatchNorm,
        tf.Tile,
        tf.BatchMatMul,
        'ProjectAdamStep',
        'ProjectReluGrad',
        'ProjectBatchNormGradSums',
        'ProjectBatchNormDx',
        'ProjectMoments',
        'ProjectColorJitter',
        'gradient:FusedBatchNorm',
        'gradient:Sum',
        'gradient:Mean',
        'gradient:Relu',
      ],
    });
    expect(tf.getBackend()).toBe('wasm');
    // Without the registered kernel, wasm throws "Kernel 'Conv2DBackpropFilter' not registered".
    const grad = tf.tidy(() => {
      const x = tf.ones([1, 3, 3, 1]) as tf.Tensor4D;
      return tf.grad((w) => tf.sum(tf.conv2d(x, w as tf.Tensor4D, 1, 'valid')))(tf.ones([2, 2, 1, 1]));
    });
    expect(Array.from(await grad.data())).toEqual([4, 4, 4, 4]);
    grad.dispose();
  });

  it("kernels: 'stock' puts the stock wasm input gradient back but keeps what wasm lacks or gets wrong", async () => {
    await initBackend({ preferred: 'wasm', environment: 'node' });
    const projectInput = tf.getKernel(tf.Conv2DBackpropInput, 'wasm')!.kernelFunc;
    const projectBatchNormGrad = tf.getGradient(tf.FusedBatchNorm)!.gradFunc;
    const report = await initBackend({ preferred: 'wasm', environment: 'node', kernels: 'stock' });
    expect(report.kernels).toEqual([tf.OneHot, tf.UnsortedSegmentSum, tf.Conv2DBackpropFilter]);
    const stockInput = tf.getKernel(tf.Conv2DBackpropInput, 'wasm')!.kernelFunc;
    expect(stockInput).toBe(STOCK_WASM_INPUT_GRADIENT);
    expect(projectInput).not.toBe(STOCK_WASM_INPUT_GRADIENT);
    expect(tf.getGradient(tf.FusedBatchNorm)!.gradFunc).not.toBe(projectBatchNormGrad);
    // conv nets still train: both gradients of a conv run
    const [dx, dw] = tf.tidy(() =>
      tf.grads((x, w) => tf.sum(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid')))([
        tf.ones([1, 3, 3, 1]),
        tf.ones([2, 2, 1, 1]),
      ]),
    );
    expect(Array.from(await dw.data())).toEqual([4, 4, 4, 4]);
    expect(Array.from(await dx.data())).toEqual([1, 2, 1, 2, 4, 2, 1, 2, 1]);
    tf.dispose([dx, dw]);
    const back = await initBackend({ preferred: 'wasm', environment: 'node' });
    expect(back.kernels).toContain(tf.Conv2DBackpropInput);
    expect(tf.getKernel(tf.Conv2DBackpropInput, 'wasm')!.kernelFunc).not.toBe(stockInput);
    await expect(initBackend({ environment: 'node', kernels: 'fast' as 'stock' })).rejects.toThrow(
      /unknown kernels "fast"; use 'project' or 'stock'/,
    );
  });

  it('detects Node when no environment is given', async () => {
    expect((await initBackend()).active).toBe('wasm');
  });

  it('falls back from webgpu in Node without navigator.gpu and says why', async () => {
    const report = await initBackend({ preferred: 'webgpu', environment: 'node' });
    expect(report.active).toBe('wasm');
    expect(report.skipped.map((s) => s.name)).toEqual(['webgpu', 'webgl']);
    expect(report.skipped[0].reason).toMatch(/^navigator\.gpu missing: call installNodeWebGPU\(\)/);
    expect(report.skipped[1].reason).toMatch(/^webgl: not available in Node/);
  });

  it("walks webgpu -> webgl -> wasm for 'auto' in a browser without WebGPU or WebGL2", async () => {
    const report = await initBackend({ environment: 'browser' });
    expect(report.active).toBe('wasm');
    expect(report.skipped).toEqual([
      {
        name: 'webgpu',
        reason:
          'navigator.gpu missing: this browser has no WebGPU; use Chrome 113+ or enable chrome://flags/#enable-unsafe-webgpu',
      },
      { name: 'webgl', reason: 'webgl: no WebGL2 context (WebGL disabled or the GPU is blocklisted)' },
    ]);
  });

  it('reports "no adapter" when navigator.gpu gives none', async () => {
    let requested = 0;
    const restore = withFakeNavigator({
      requestAdapter: async () => {
        requested++;
        return null;
      },
    });
    try {
      const report = await initBackend({ preferred: 'webgpu', environment: 'browser' });
      expect(requested).toBe(1);
      expect(report.active).toBe('wasm');
      expect(report.adapter).toBeUndefined();
      expect(report.skipped[0]).toEqual({
        name: 'webgpu',
        reason: expect.stringMatching(/^no adapter: navigator\.gpu\.requestAdapter\(\) returned null/),
      });
    } finally {
      restore();
    }
  });

  it('honours a named backend below the default, skipping nothing', async () => {
    expect(await initBackend({ preferred: 'cpu', environment: 'browser' })).toEqual({
      active: 'cpu',
      skipped: [],
      kernels: [
        tf.Conv2DBackpropFilter,
        'gradient:FusedBatchNorm',
        'gradient:Sum',
        'gradient:Mean',
        'gradient:Relu',
      ],
    });
    expect(tf.getBackend()).toBe('cpu');
  });

  it('rejects an unknown backend name with the valid choices', async () => {
    await expect(initBackend({ preferred: 'metal' as 'cpu' })).rejects.toThrow(
      /unknown backend "metal"; use one of webgpu, webgl, wasm, cpu/,
    );
  });
});

describe('onDeviceLost', () => {
  it("calls back with the device's lost info", async () => {
    let resolveLost: (info: { reason: string; message: string }) => void = () => {};
    const lost = new Promise<{ reason: string; message: string }>((resolve) => (resolveLost = resolve));
    const calls: DeviceLostInfo[] = [];
    onDeviceLost((info) => calls.push(info), { device: { lost } });
    expect(calls).toEqual([]);
    resolveLost({ reason: 'unknown', message: 'GPU process crashed' });
    await lost;
    await Promise.resolve();
    expect(calls).toEqual([{ reason: 'unknown', message: 'GPU process crashed' }]);
  });

  it('stays silent after unsubscribing, and is a no-op on backends without a device', async () => {
    const lost = Promise.resolve({ reason: 'destroyed', message: 'device was destroyed' });
    const calls: DeviceLostInfo[] = [];
    const unsubscribe = onDeviceLost((info) => calls.push(info), { device: { lost } });
    unsubscribe();
    await lost;
    await Promise.resolve();
    expect(calls).toEqual([]);
    const noop = onDeviceLost(() => calls.push({ reason: 'x', message: 'y' })); // active backend: cpu
    noop();
    expect(calls).toEqual([]);
  });
});
