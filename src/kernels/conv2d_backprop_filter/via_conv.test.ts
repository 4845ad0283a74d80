import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { conv2dBackpropFilterViaConv } from './via_conv';
import { CONV_CASES, maxAbsDiff, stridesOf, type ConvCase } from '../conv_testing';
import { installKernels } from '../install';

// The stock cpu kernel is the reference; grab it before anything in this file could replace it.
const stockCpuKernel = tf.getKernel(tf.Conv2DBackpropFilter, 'cpu')!.kernelFunc;

const cases = CONV_CASES;

function uniform(shape: number[], seed: number): tf.Tensor {
  return tf.randomUniform(shape, -1, 1, 'float32', seed);
}

/** dL/dW of L = Σ conv2d(x, W) ⊙ dy, i.e. Conv2DBackpropFilter(x, dy), through whatever kernel is registered. */
function filterGradient(x: tf.Tensor4D, filter: tf.Tensor4D, dy: tf.Tensor4D, c: ConvCase): tf.Tensor4D {
  return tf.tidy(() =>
    tf.grad((w) => tf.sum(tf.mul(tf.conv2d(x, w as tf.Tensor4D, stridesOf(c), c.pad), dy)))(filter),
  ) as tf.Tensor4D;
}

/** Inputs and the stock-cpu reference gradient for one case (computed on cpu). */
async function reference(c: ConvCase, seed: number) {
  const x = uniform(c.x, seed) as tf.Tensor4D;
  const filter = uniform(c.filter, seed + 1) as tf.Tensor4D;
  const outShape = tf.tidy(() => tf.conv2d(x, filter, stridesOf(c), c.pad).shape);
  const dy = uniform(outShape, seed + 2) as tf.Tensor4D;
  const expected = filterGradient(x, filter, dy, c);
  const values = {
    x: await x.data(),
    filter: await filter.data(),
    dy: await dy.data(),
    dyShape: outShape,
    expected: await expected.data(),
  };
  tf.dispose([x, filter, dy, expected]);
  return values;
}

/** Max |difference| between the filter gradient on the active backend and the reference, for the same inputs. */
async function errorAgainstReference(
  c: ConvCase,
  ref: Awaited<ReturnType<typeof reference>>,
): Promise<number> {
  const x = tf.tensor4d(ref.x, c.x);
  const filter = tf.tensor4d(ref.filter, c.filter);
  const dy = tf.tensor4d(ref.dy, ref.dyShape as [number, number, number, number]);
  const grad = filterGradient(x, filter, dy, c);
  const error = maxAbsDiff(await grad.data(), ref.expected);
  tf.dispose([x, filter, dy, grad]);
  return error;
}

afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('conv2dBackpropFilterViaConv', () => {
  it.each(cases.map((c, i) => [i, c] as const))(
    'case %i matches the stock cpu kernel to 1e-4 on cpu',
    async (i, c) => {
      await tf.setBackend('cpu');
      const ref = await reference(c, 100 + 10 * i);
      // A non-trivial gradient, else "matches" proves nothing.
      expect(Math.max(...Array.from(ref.expected, Math.abs))).toBeGreaterThan(0.1);
      const x = tf.tensor4d(ref.x, c.x);
      const dy = tf.tensor4d(ref.dy, ref.dyShape as [number, number, number, number]);
      const backend = tf.backend();
      const dataIdsBefore = backend.numDataIds();
      const info = conv2dBackpropFilterViaConv(
        {
          inputs: { x, dy },
          backend,
          attrs: {
            strides: stridesOf(c),
            pad: c.pad,
            dataFormat: 'NHWC',
            dimRoundingMode: undefined,
            filterShape: c.filter,
          } as unknown as tf.NamedAttrMap,
        },
        'cpu',
      );
      // Only the result survives: every intermediate (pad, slice, transposes, conv) was released.
      expect(backend.numDataIds()).toBe(dataIdsBefore + 1);
      expect(info.shape).toEqual(c.filter);
      const actual = backend.readSync(info.dataId) as Float32Array;
      backend.disposeData(info.dataId);
      expect(maxAbsDiff(actual, ref.expected)).toBeLessThan(1e-4);
      tf.dispose([x, dy]);
    },
  );

  it('handles NCHW the same way as the stock cpu kernel', () => {
    tf.tidy(() => {
      const x = uniform([2, 3, 7, 6], 7); // [N, C, H, W]
      const dy = uniform([2, 4, 4, 3], 8); // stride 2, 'same': [N, O, 4, 3]
      const attrs = {
        strides: [2, 2],
        pad: 'same',
        dataFormat: 'NCHW',
        dimRoundingMode: undefined,
        filterShape: [3, 3, 3, 4],
      };
      const backend = tf.backend();
      const stock = stockCpuKernel({
        inputs: { x, dy },
        backend,
        attrs: attrs as unknown as tf.NamedAttrMap,
      }) as tf.TensorInfo;
      const ours = conv2dBackpropFilterViaConv(
        { inputs: { x, dy }, backend, attrs: attrs as unknown as tf.NamedAttrMap },
        'cpu',
      );
      expect(
        maxAbsDiff(
          backend.readSync(ours.dataId) as Float32Array,
          backend.readSync(stock.dataId) as Float32Array,
        ),
      ).toBeLessThan(1e-4);
      backend.disposeData(ours.dataId);
      backend.disposeData(stock.dataId);
    });
  });

  it('gives conv2d a filter gradient on wasm equal to the cpu one, without leaking tensors', async () => {
    await tf.setBackend('cpu');
    const refs = await Promise.all(cases.map((c, i) => reference(c, 500 + 10 * i)));
    await tf.setBackend('wasm');
    installKernels('wasm');
    installKernels('wasm'); // idempotent: still one working registration
    const tensorsBefore = tf.memory().numTensors;
    for (const [i, c] of cases.entries()) {
      expect(await errorAgainstReference(c, refs[i])).toBeLessThan(1e-4);
    }
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    await tf.setBackend('cpu');
  });

  it('lets a fused conv (bias + relu, as tf.layers uses) train on wasm, with the cpu gradient', async () => {
    // Teacher/student: the target is what a hidden filter produces, so the loss can go near zero.
    const data = tf.tidy(() => {
      const x = uniform([4, 6, 6, 3], 11) as tf.Tensor4D;
      const teacher = uniform([3, 3, 3, 5], 12) as tf.Tensor4D;
      const target = tf.fused.conv2d({
        x,
        filter: teacher,
        bias: tf.fill([5], 0.1),
        pad: 'same',
        strides: 1,
        activation: 'relu',
      });
      return {
        x: x.dataSync(),
        target: target.dataSync(),
        init: tf.mul(uniform([3, 3, 3, 5], 13), 0.3).dataSync(),
      };
    });
    const lossOf = (x: tf.Tensor4D, target: tf.Tensor, filter: tf.Tensor4D, bias: tf.Tensor1D) =>
      tf.mean(
        tf.square(
          tf.sub(tf.fused.conv2d({ x, filter, bias, strides: 1, pad: 'same', activation: 'relu' }), target),
        ),
      ) as tf.Scalar;
    const gradientsAt = async (backendName: string) => {
      await tf.setBackend(backendName);
      const x = tf.tensor4d(data.x, [4, 6, 6, 3]);
      const target = tf.tensor4d(data.target, [4, 6, 6, 5]);
      const filter = tf.tensor4d(data.init, [3, 3, 3, 5]);
      const bias = tf.fill([5], 0.05) as tf.Tensor1D;
      const [dFilter, dBias] = tf.grads((f: tf.Tensor, b: tf.Tensor) =>
        lossOf(x, target, f as tf.Tensor4D, b as tf.Tensor1D),
      )([filter, bias]);
      const values = { dFilter: await dFilter.data(), dBias: await dBias.data() };
      tf.dispose([x, target, filter, bias, dFilter, dBias]);
      return values;
    };
    const onCpu = await gradientsAt('cpu');
    installKernels('wasm');
    const onWasm = await gradientsAt('wasm');
    expect(maxAbsDiff(onWasm.dFilter, onCpu.dFilter)).toBeLessThan(1e-4);
    expect(maxAbsDiff(onWasm.dBias, onCpu.dBias)).toBeLessThan(1e-4);

    // Still on wasm: a few Adam steps must fit the teacher.
    const x = tf.tensor4d(data.x, [4, 6, 6, 3]);
    const target = tf.tensor4d(data.target, [4, 6, 6, 5]);
    const filter = tf.variable(tf.tensor4d(data.init, [3, 3, 3, 5]));
    const bias = tf.variable(tf.fill([5], 0.05) as tf.Tensor1D);
    const loss = () => tf.tidy(() => lossOf(x, target, filter, bias));
    const optimizer = tf.train.adam(0.05);
    const first = (await loss().data())[0];
    for (let step = 0; step < 40; step++) tf.dispose(optimizer.minimize(loss, true, [filter, bias]) ?? []);
    const last = (await loss().data())[0];
    expect(tf.getBackend()).toBe('wasm');
    expect(Number.isFinite(last)).toBe(true);
    expect(last).toBeLessThan(0.3 * first);
    tf.dispose([x, target, filter, bias]);
    optimizer.dispose();
    await tf.setBackend('cpu');
  });

  it('registers for cpu too, and the registered cpu kernel still matches the stock one', async () => {
    await tf.setBackend('cpu');
    const c = cases[2];
    const ref = await reference(c, 900);
    installKernels('cpu');
    expect(tf.getKernel(tf.Conv2DBackpropFilter, 'cpu')!.kernelFunc).not.toBe(stockCpuKernel);
    expect(await errorAgainstReference(c, ref)).toBeLessThan(1e-4);
    // Leave the process as we found it for any later test in this worker.
    installKernels('cpu', { kernels: 'stock' });
    expect(tf.getKernel(tf.Conv2DBackpropFilter, 'cpu')!.kernelFunc).toBe(stockCpuKernel);
  });

  it('leaves backends that have their own kernel alone', () => {
    const webglKernel = tf.getKernel(tf.Conv2DBackpropFilter, 'webgl')!.kernelFunc;
    installKernels('webgl');
    expect(tf.getKernel(tf.Conv2DBackpropFilter, 'webgl')!.kernelFunc).toBe(webglKernel);
  });
});
