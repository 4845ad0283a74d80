import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { installKernels } from '../install';
import { columnSplits } from '../webgpu/program';
import { relativeError, useNodeWebGPU } from '../webgpu/testing';
import { meanWebGPU, reducedRun, sumWebGPU } from './webgpu';

const unavailable = await useNodeWebGPU();
if (unavailable) console.warn(`skipping the WebGPU reduction tests: ${unavailable}`);

afterAll(async () => {
  installKernels('webgpu', { kernels: 'stock' });
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

function values(shape: number[], seed: number): tf.Tensor {
  return tf.randomNormal(shape, 0.5, 1, 'float32', seed);
}

describe.skipIf(unavailable !== null)('Sum and Mean over leading and middle axes on WebGPU', () => {
  it.each(HANDLED)('$shape over $axis (keepDims $keepDims) matches the stock kernels', async (c) => {
    const x = values(c.shape, 1);
    installKernels('webgpu', { kernels: 'stock' });
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
    installKernels('webgpu');
    const tensorsBefore = tf.memory().numTensors;
    const viaOps = [tf.sum(x, c.axis, c.keepDims), tf.mean(x, c.axis, c.keepDims)];
    expect(tf.memory().numTensors).toBe(tensorsBefore + 2);
    expect(await relativeError(viaOps[0], stockSum)).toBeLessThan(1e-5);
    expect(await relativeError(viaOps[1], stockMean)).toBeLessThan(1e-5);
    tf.dispose([x, stockSum, stockMean, ourSum, ourMean, ...viaOps]);
  });

  it('leaves other reductions to the stock kernels, with the same results', async () => {
    const x = values([3, 4, 5], 2);
    const wide = values([3, 100], 8);
    const attrsOf = (axis: number | number[]) => ({ axis, keepDims: false }) as unknown as tf.NamedAttrMap;
    const backend = tf.backend();
    expect(sumWebGPU({ inputs: { x }, backend, attrs: attrsOf([0, 2]) })).toBeNull(); // not a run of axes
    expect(sumWebGPU({ inputs: { x: wide }, backend, attrs: attrsOf(-1) })).toBeNull(); // 100 > SMALL_INNER values
    const ints = tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32');
    expect(sumWebGPU({ inputs: { x: ints }, backend, attrs: attrsOf(0) })).toBeNull();
    installKernels('webgpu');
    const project = [
      tf.sum(x, [0, 2]),
      tf.mean(x, [0, 2]),
      tf.sum(wide, -1),
      tf.max(wide, -1),
      tf.sum(ints, 0),
    ];
    installKernels('webgpu', { kernels: 'stock' });
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
      installKernels('webgpu'); // registers the project gradients (all backends)
      const expected = await gradOn('cpu');
      const actual = await gradOn('webgpu');
      let worst = 0;
      for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
      expect(worst).toBeLessThan(1e-6);
      expect(new Set(actual).size).toBeGreaterThan(1);
    },
  );
});
