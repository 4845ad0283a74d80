import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conv2dBackpropInputViaConv, subPixelAxis, subPixelPlan } from './via_conv';
import { CONV_CASES, inputGradientAttrs, maxAbsDiff, stridesOf, type ConvCase } from '../conv_testing';
import { installKernels } from '../install';

// References: the stock cpu kernel (a direct loop over the definition) and the stock wasm one, grabbed before
// anything in this file replaces the latter.
const stockCpuKernel = tf.getKernel(tf.Conv2DBackpropInput, 'cpu')!.kernelFunc;
const stockWasmKernel = tf.getKernel(tf.Conv2DBackpropInput, 'wasm')!.kernelFunc;
// Registered before the wasm backend initialises, so tfjs never ran the stock kernel's setup (binding its C
// function): installKernels(..., { kernels: 'stock' }) must bind it, else the stock kernel throws "... is not a function".
expect(tf.engine().registry.wasm).toBeUndefined();
installKernels('wasm');

const cases = CONV_CASES;

const attrsOf = inputGradientAttrs;

/** Random filter and output gradient for a case, and the stock cpu input gradient for them. */
function reference(c: ConvCase, seed: number) {
  return tf.tidy(() => {
    const x = tf.randomUniform(c.x, -1, 1, 'float32', seed) as tf.Tensor4D;
    const filter = tf.randomUniform(c.filter, -1, 1, 'float32', seed + 1) as tf.Tensor4D;
    const dyShape = tf.conv2d(x, filter, stridesOf(c), c.pad).shape;
    const dy = tf.randomUniform(dyShape, -1, 1, 'float32', seed + 2) as tf.Tensor4D;
    const backend = tf.backend();
    const info = stockCpuKernel({ inputs: { dy, filter }, backend, attrs: attrsOf(c) }) as tf.TensorInfo;
    const expected = (backend.readSync(info.dataId) as Float32Array).slice();
    backend.disposeData(info.dataId);
    return { filter: filter.dataSync().slice(), dy: dy.dataSync().slice(), dyShape, expected };
  });
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

afterAll(async () => {
  installKernels('wasm', { kernels: 'stock' });
  await tf.setBackend('cpu');
});

describe('conv2dBackpropInputViaConv (wasm)', () => {
  it.each(cases.map((c, i) => [i, c] as const))(
    'case %i matches the stock cpu kernel to 1e-4',
    async (i, c) => {
      await tf.setBackend('cpu');
      const ref = reference(c, 100 + 10 * i);
      // A non-trivial gradient, else "matches" proves nothing.
      expect(Math.max(...Array.from(ref.expected, Math.abs))).toBeGreaterThan(0.1);
      await tf.setBackend('wasm');
      const filter = tf.tensor4d(ref.filter, c.filter);
      const dy = tf.tensor4d(ref.dy, ref.dyShape as [number, number, number, number]);
      const backend = tf.backend();
      const dataIdsBefore = backend.numDataIds();
      const info = conv2dBackpropInputViaConv({ inputs: { dy, filter }, backend, attrs: attrsOf(c) }, 'wasm');
      expect(info).not.toBeNull();
      // Only the result survives: every intermediate (reshapes, pad, slice, flip, conv) was released.
      expect(backend.numDataIds()).toBe(dataIdsBefore + 1);
      expect(info!.shape).toEqual(c.x);
      const actual = (backend.readSync(info!.dataId) as Float32Array).slice();
      backend.disposeData(info!.dataId);
      expect(maxAbsDiff(actual, ref.expected)).toBeLessThan(1e-4);
      tf.dispose([filter, dy]);
    },
  );

  it('plans the sub-pixel form for 3x3 and 1x1 stride 2 (one window of 2 rows serving both phases), not for stride 1 or unequal strides', () => {
    // dx[2q] = dy[q]·W0 + dy[q−1]·W2 and dx[2q+1] = dy[q]·W1: window rows q−1, q; phase 1 has no tap in row q−1
    expect(subPixelAxis(8, 4, 3, 2, 0)).toEqual({
      stride: 2,
      window: 2,
      before: 1,
      after: 0,
      rows: 4,
      taps: [2, -1, 0, 1],
    });
    // padding 1: dx[2q] = dy[q]·W1, dx[2q+1] = dy[q+1]·W0 + dy[q]·W2
    expect(subPixelAxis(8, 4, 3, 2, 1)).toEqual({
      stride: 2,
      window: 2,
      before: 0,
      after: 1,
      rows: 4,
      taps: [1, 2, -1, 0],
    });
    const info = (x: number[], filter: number[], strides: [number, number]) =>
      tf.backend_util.computeConv2DInfo(
        x as [number, number, number, number],
        filter as [number, number, number, number],
        strides,
        1,
        'same',
      );
    expect(subPixelPlan(info([2, 16, 16, 8], [3, 3, 8, 16], [2, 2]))).not.toBeNull();
    expect(subPixelPlan(info([2, 16, 16, 8], [1, 1, 8, 16], [2, 2]))).not.toBeNull(); // as much work, no 6-D pad
    expect(subPixelPlan(info([2, 16, 16, 8], [3, 3, 8, 16], [1, 1]))).toBeNull();
    expect(subPixelPlan(info([2, 16, 16, 8], [3, 3, 8, 16], [1, 2]))).toBeNull();
  });

  it('returns null for NCHW, which wasm Conv2D cannot run', async () => {
    await tf.setBackend('wasm');
    const c = cases[0];
    const nchw: [number, number, number, number] = [c.x[0], c.x[3], c.x[1], c.x[2]];
    const filter = tf.zeros(c.filter);
    const dy = tf.zeros([2, 4, 6, 6]);
    const out = conv2dBackpropInputViaConv(
      { inputs: { dy, filter }, backend: tf.backend(), attrs: attrsOf(c, 'NCHW', nchw) },
      'wasm',
    );
    expect(out).toBeNull();
    tf.dispose([filter, dy]);
  });

  it('once registered, gives tf.grad of conv2d on wasm the stock wasm values, without leaking', async () => {
    await tf.setBackend('wasm');
    const c = cases[cases.length - 1];
    const x = tf.randomUniform(c.x, -1, 1, 'float32', 7) as tf.Tensor4D;
    const filter = tf.randomUniform(c.filter, -1, 1, 'float32', 8) as tf.Tensor4D;
    const dxOf = () =>
      tf.tidy(() =>
        tf.grad((input) => tf.sum(tf.square(tf.conv2d(input as tf.Tensor4D, filter, stridesOf(c), c.pad))))(
          x,
        ),
      );
    expect(tf.getKernel(tf.Conv2DBackpropInput, 'wasm')!.kernelFunc).not.toBe(stockWasmKernel);
    const tensorsBefore = tf.memory().numTensors;
    const project = dxOf();
    expect(tf.memory().numTensors).toBe(tensorsBefore + 1);
    installKernels('wasm', { kernels: 'stock' });
    expect(tf.getKernel(tf.Conv2DBackpropInput, 'wasm')!.kernelFunc).toBe(stockWasmKernel);
    const stock = dxOf();
    expect(maxAbsDiff(await project.data(), await stock.data())).toBeLessThan(1e-4);
    tf.dispose([x, filter, project, stock]);
  });

  it('falls back to the stock wasm kernel for NCHW once registered', async () => {
    await tf.setBackend('wasm');
    installKernels('wasm');
    const c = cases[2];
    const nchw: [number, number, number, number] = [c.x[0], c.x[3], c.x[1], c.x[2]];
    const filter = tf.randomUniform(c.filter, -1, 1, 'float32', 3) as tf.Tensor4D;
    const dy = tf.randomUniform([3, 5, 4, 4], -1, 1, 'float32', 4) as tf.Tensor4D;
    const run = (kernel: tf.KernelFunc) => {
      const info = kernel({
        inputs: { dy, filter },
        backend: tf.backend(),
        attrs: attrsOf(c, 'NCHW', nchw),
      }) as tf.TensorInfo;
      const values = (tf.backend().readSync(info.dataId) as Float32Array).slice();
      tf.backend().disposeData(info.dataId);
      return values;
    };
    const registered = run(tf.getKernel(tf.Conv2DBackpropInput, 'wasm')!.kernelFunc);
    const stock = run(stockWasmKernel);
    expect(registered.length).toBe(3 * 2 * 7 * 8);
    expect(maxAbsDiff(registered, stock)).toBe(0);
    tf.dispose([filter, dy]);
    installKernels('wasm', { kernels: 'stock' });
  });
});
