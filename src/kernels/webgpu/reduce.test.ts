import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { registerWebGPUKernels, unregisterWebGPUKernels } from './index';
import {
  batchNormGradSumsWebGPU,
  columnSplits,
  maxWebGPU,
  meanWebGPU,
  minWebGPU,
  reducedRun,
  sumWebGPU,
  trailingReducedAxes,
} from './reduce';
import { BATCHNORM_GRAD_SUMS_KERNEL } from './batchnorm_grad';
import { BATCHNORM_DX_KERNEL } from './batchnorm_dx';
import { batchNormTraining } from '../batchnorm_train';
import { relativeError, useNodeWebGPU } from './testing';

const unavailable = await useNodeWebGPU();
if (unavailable) console.warn(`skipping the WebGPU reduction tests: ${unavailable}`);

afterAll(async () => {
  unregisterWebGPUKernels();
  await tf.setBackend('cpu');
});

describe('column reduction plan', () => {
  it('handles a run of consecutive axes that stops short of the last one', () => {
    expect(reducedRun([2, 3, 4, 5], [0, 1, 2])).toEqual({ first: 0, count: 3 });
    expect(reducedRun([2, 3, 4, 5], [2, 0, 1])).toEqual({ first: 0, count: 3 }); // any order
    expect(reducedRun([2, 3], 0)).toEqual({ first: 0, count: 1 });
    expect(reducedRun([2, 3, 4], [-3])).toEqual({ first: 0, count: 1 });
    expect(reducedRun([2, 3, 4], [1])).toEqual({ first: 1, count: 1 }); // middle
    expect(reducedRun([2, 3, 4, 5], [2, 1])).toEqual({ first: 1, count: 2 });
    expect(reducedRun([2, 3, 4], [1, 2])).toBeNull(); // trailing: the small-inner or stock kernel's case
    expect(reducedRun([2, 3, 4], [0, 2])).toBeNull(); // not a run
    expect(reducedRun([2, 3, 4], [0, 1, 2])).toBeNull(); // everything
  });

  it('recognises trailing axes, up to all of them', () => {
    expect(trailingReducedAxes([2, 3, 4], -1)).toBe(1);
    expect(trailingReducedAxes([2, 3, 4], [2, 1])).toBe(2);
    expect(trailingReducedAxes([2, 3, 4], [0, 1, 2])).toBe(3);
    expect(trailingReducedAxes([2, 3, 4], [0, 2])).toBeNull();
    expect(trailingReducedAxes([2, 3, 4], [1])).toBeNull();
  });

  it('splits the rows so that every row is summed exactly once', () => {
    for (const [rows, cols] of [
      [1, 1],
      [31, 3],
      [1000, 70],
      [40_000, 2],
      [524_288, 32],
      [7, 100_000],
    ]) {
      const { splits, chunk } = columnSplits(rows, cols);
      expect(splits).toBeGreaterThanOrEqual(1);
      expect(splits * chunk).toBeGreaterThanOrEqual(rows);
      expect((splits - 1) * chunk).toBeLessThan(rows); // no empty chunk
      expect(chunk === rows || chunk >= 32 || splits * cols >= 65536).toBe(true);
    }
  });
});

interface Case {
  shape: number[];
  axis: number | number[];
  keepDims: boolean;
}

const HANDLED: Case[] = [
  { shape: [2, 5, 7, 3], axis: [0, 1, 2], keepDims: false }, // BatchNorm over N, H, W
  { shape: [2, 5, 7, 3], axis: [0, 1, 2], keepDims: true },
  { shape: [1000, 70], axis: 0, keepDims: false }, // several row chunks
  { shape: [40_000, 2], axis: [0], keepDims: false }, // 1,250 chunks: pass 2 adds many partials
  { shape: [3, 4, 5], axis: [1, 0], keepDims: true },
  { shape: [64, 200, 10], axis: 1, keepDims: false }, // middle axis: the kNN's class scores
  { shape: [3, 4, 5, 6], axis: [2, 1], keepDims: true },
  { shape: [5, 3000, 2], axis: [1], keepDims: false }, // middle, several row chunks per block
];

const INNER: Case[] = [
  { shape: [5, 4, 4, 3], axis: -1, keepDims: true }, // per-pixel colour reductions of the jitter augmentations
  { shape: [5, 4, 4, 3], axis: [3], keepDims: false },
  { shape: [2, 3, 4, 6], axis: [2, 3], keepDims: false },
  { shape: [4, 4], axis: [0, 1], keepDims: false }, // everything, 16 values
];

function values(shape: number[], seed: number): tf.Tensor {
  return tf.randomNormal(shape, 0.5, 1, 'float32', seed);
}

describe.skipIf(unavailable !== null)('Sum and Mean over leading and middle axes on WebGPU', () => {
  it.each(HANDLED)('$shape over $axis (keepDims $keepDims) matches the stock kernels', async (c) => {
    const x = values(c.shape, 1);
    unregisterWebGPUKernels();
    const stockSum = tf.sum(x, c.axis, c.keepDims);
    const stockMean = tf.mean(x, c.axis, c.keepDims);
    const backend = tf.backend();
    const attrs = { axis: c.axis, keepDims: c.keepDims } as unknown as tf.NamedAttrMap;
    const before = backend.numDataIds();
    const sum = sumWebGPU({ inputs: { x }, backend, attrs });
    const mean = meanWebGPU({ inputs: { x }, backend, attrs });
    expect(sum).not.toBeNull();
    expect(mean).not.toBeNull();
    expect(backend.numDataIds()).toBe(before + 2); // the partial sums were released
    const asTensor = (info: tf.TensorInfo) => tf.engine().makeTensorFromTensorInfo(info);
    const [ourSum, ourMean] = [asTensor(sum!), asTensor(mean!)];
    expect(ourSum.shape).toEqual(stockSum.shape);
    expect(ourMean.shape).toEqual(stockMean.shape);
    expect(await relativeError(ourSum, stockSum)).toBeLessThan(1e-5);
    expect(await relativeError(ourMean, stockMean)).toBeLessThan(1e-5);
    // and through tf.sum / tf.mean once registered
    registerWebGPUKernels();
    const tensorsBefore = tf.memory().numTensors;
    const viaOps = [tf.sum(x, c.axis, c.keepDims), tf.mean(x, c.axis, c.keepDims)];
    expect(tf.memory().numTensors).toBe(tensorsBefore + 2);
    expect(await relativeError(viaOps[0], stockSum)).toBeLessThan(1e-5);
    expect(await relativeError(viaOps[1], stockMean)).toBeLessThan(1e-5);
    tf.dispose([x, stockSum, stockMean, ourSum, ourMean, ...viaOps]);
  });

  it.each(INNER)(
    '$shape over $axis (keepDims $keepDims): Sum, Mean, Max and Min match the stock kernels',
    async (c) => {
      const x = values(c.shape, 7);
      // a NaN in the first row: max and min must propagate it like the stock kernels
      const withNaN = tf.where(tf.equal(tf.range(0, x.size).reshape(c.shape), 1), tf.fill(c.shape, NaN), x);
      const ops = (input: tf.Tensor) => [
        tf.sum(input, c.axis, c.keepDims),
        tf.mean(input, c.axis, c.keepDims),
        tf.max(input, c.axis, c.keepDims),
        tf.min(input, c.axis, c.keepDims),
        tf.max(withNaN, c.axis, c.keepDims),
        tf.min(withNaN, c.axis, c.keepDims),
      ];
      unregisterWebGPUKernels();
      const stock = ops(x);
      const backend = tf.backend();
      const attrs = {
        axis: c.axis,
        reductionIndices: c.axis,
        keepDims: c.keepDims,
      } as unknown as tf.NamedAttrMap;
      for (const kernel of [sumWebGPU, meanWebGPU, maxWebGPU, minWebGPU]) {
        const info = kernel({ inputs: { x }, backend, attrs });
        expect(info).not.toBeNull(); // the small-inner kernel took it
        backend.disposeData(info!.dataId);
      }
      registerWebGPUKernels();
      const project = ops(x);
      for (const [i, t] of project.entries()) {
        expect(t.shape).toEqual(stock[i].shape);
        const [a, b] = [await t.data(), await stock[i].data()];
        for (let j = 0; j < b.length; j++) {
          if (Number.isNaN(b[j])) expect(a[j]).toBeNaN();
          else expect(Math.abs(a[j] - b[j])).toBeLessThan(1e-5 * Math.max(1, Math.abs(b[j])));
        }
      }
      expect(Array.from(await project[4].data()).some(Number.isNaN)).toBe(true);
      tf.dispose([x, withNaN, ...stock, ...project]);
    },
  );

  it('leaves other reductions to the stock kernels, with the same results', async () => {
    const x = values([3, 4, 5], 2);
    const wide = values([3, 100], 8);
    const attrsOf = (axis: number | number[]) => ({ axis, keepDims: false }) as unknown as tf.NamedAttrMap;
    const backend = tf.backend();
    expect(sumWebGPU({ inputs: { x }, backend, attrs: attrsOf([0, 2]) })).toBeNull(); // not a run of axes
    expect(sumWebGPU({ inputs: { x: wide }, backend, attrs: attrsOf(-1) })).toBeNull(); // 100 > SMALL_INNER values
    const ints = tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32');
    expect(sumWebGPU({ inputs: { x: ints }, backend, attrs: attrsOf(0) })).toBeNull();
    registerWebGPUKernels();
    const project = [
      tf.sum(x, [0, 2]),
      tf.mean(x, [0, 2]),
      tf.sum(wide, -1),
      tf.max(wide, -1),
      tf.sum(ints, 0),
    ];
    unregisterWebGPUKernels();
    const stock = [
      tf.sum(x, [0, 2]),
      tf.mean(x, [0, 2]),
      tf.sum(wide, -1),
      tf.max(wide, -1),
      tf.sum(ints, 0),
    ];
    for (const [i, t] of project.entries()) expect(await relativeError(t, stock[i])).toBe(0);
    expect(Array.from(await project[4].data())).toEqual([4, 6]);
    tf.dispose([x, wide, ints, ...project, ...stock]);
  });

  it('gives a BatchNorm training step the stock gradients', async () => {
    const x = values([4, 6, 6, 8], 3);
    const scale = values([8], 4);
    const offset = values([8], 5);
    const r = values([4, 6, 6, 8], 6);
    const loss = (input: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => {
      const { mean, variance } = tf.moments(input, [0, 1, 2]);
      return tf.sum(tf.mul(tf.batchNorm(input, mean, variance, o as tf.Tensor1D, s as tf.Tensor1D, 1e-3), r));
    };
    registerWebGPUKernels();
    const profiled = await tf.profile(() => tf.grads(loss)([x, scale, offset]));
    const project = profiled.result as tf.Tensor[];
    // the lean gradient took the fused sums, and the forward moments the leading-axes Mean
    expect(profiled.kernels.map((k) => k.name)).toContain(BATCHNORM_GRAD_SUMS_KERNEL);
    unregisterWebGPUKernels();
    const stock = tf.grads(loss)([x, scale, offset]);
    for (const [i, g] of project.entries()) expect(await relativeError(g, stock[i])).toBeLessThan(1e-4);
    tf.dispose([x, scale, offset, r, ...project, ...stock]);
  });

  it('runs the project BatchNorm training op (batchNormTraining) in two kernels with the stock gradients', async () => {
    const x = values([4, 6, 6, 8], 13);
    const scale = values([8], 14);
    const offset = values([8], 15);
    const r = values([4, 6, 6, 8], 16);
    const stockLoss = (input: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => {
      const { mean, variance } = tf.moments(input, [0, 1, 2]);
      return tf.sum(tf.mul(tf.batchNorm(input, mean, variance, o as tf.Tensor1D, s as tf.Tensor1D, 1e-3), r));
    };
    const projectLoss = (input: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => {
      const { y, mean, variance } = batchNormTraining(input, s, o, 1e-3);
      tf.dispose([mean, variance]);
      return tf.sum(tf.mul(y, r));
    };
    registerWebGPUKernels();
    const profiled = await tf.profile(() => tf.grads(projectLoss)([x, scale, offset]));
    const project = profiled.result as tf.Tensor[];
    const names = profiled.kernels.map((k) => k.name);
    expect(names).toContain(BATCHNORM_GRAD_SUMS_KERNEL);
    expect(names).toContain(BATCHNORM_DX_KERNEL);
    unregisterWebGPUKernels();
    const stock = tf.grads(stockLoss)([x, scale, offset]);
    for (const [i, g] of project.entries()) expect(await relativeError(g, stock[i])).toBeLessThan(1e-4);
    tf.dispose([x, scale, offset, r, ...project, ...stock]);
  });

  it.each([
    [4, 6, 6, 8],
    [37, 5],
    [3000, 3],
  ])('fused BatchNorm gradient sums of %j match the ops', async (...shape) => {
    const dy = values(shape, 9);
    const x = values(shape, 10);
    const channels = shape[shape.length - 1];
    const mean = values([channels], 11);
    const axes = shape.slice(0, -1).map((_, axis) => axis);
    const expected = tf.stack([tf.sum(dy, axes), tf.sum(tf.mul(dy, tf.sub(x, mean)), axes)]);
    const backend = tf.backend();
    const before = backend.numDataIds();
    const info = batchNormGradSumsWebGPU({ inputs: { dy, x, mean }, backend });
    expect(backend.numDataIds()).toBe(before + 1);
    const actual = tf.engine().makeTensorFromTensorInfo(info);
    expect(actual.shape).toEqual([2, channels]);
    expect(await relativeError(actual, expected)).toBeLessThan(1e-5);
    tf.dispose([dy, x, mean, expected, actual]);
  });

  it('refuses BatchNorm gradient sums of mismatched shapes, naming them', () => {
    const dy = tf.zeros([4, 3]);
    const x = tf.zeros([4, 3]);
    const mean = tf.zeros([2]);
    expect(() => batchNormGradSumsWebGPU({ inputs: { dy, x, mean }, backend: tf.backend() })).toThrow(
      /needs dy and x of one shape \[\.\.\., C\] and mean \[C\]; got dy \[4, 3\], x \[4, 3\], mean \[2\]/,
    );
    tf.dispose([dy, x, mean]);
  });
});

describe.skipIf(unavailable !== null)('the project Sum and Mean gradients on WebGPU (one Tile)', () => {
  it.each([
    { op: 'mean', shape: [4, 6, 6, 8], axis: [0, 1, 2] },
    { op: 'sum', shape: [4, 6, 6, 8], axis: [1, 2] },
    { op: 'mean', shape: [37, 5], axis: -1 },
  ] as Array<{ op: 'sum' | 'mean'; shape: number[]; axis: number | number[] }>)(
    '$op over $axis of $shape: the gradient matches the cpu backend to 1e-6',
    async ({ op, shape, axis }) => {
      const gradOn = async (backend: string): Promise<Float32Array> => {
        await tf.setBackend(backend);
        const result = tf.tidy(() => {
          const x = tf.randomNormal(shape, 0, 1, 'float32', 21);
          const reduce = (a: tf.Tensor) => (op === 'sum' ? tf.sum(a, axis) : tf.mean(a, axis));
          const w = tf.randomNormal(reduce(x).shape, 0, 1, 'float32', 22);
          return tf.grad((a: tf.Tensor) => tf.sum(tf.mul(reduce(a), w)))(x);
        });
        const values = (await result.data()) as Float32Array;
        result.dispose();
        return values;
      };
      registerWebGPUKernels({ inputGradient: false }); // registers the project gradients (all backends)
      const expected = await gradOn('cpu');
      const actual = await gradOn('webgpu');
      let worst = 0;
      for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
      expect(worst).toBeLessThan(1e-6);
      expect(new Set(actual).size).toBeGreaterThan(1);
    },
  );
});
