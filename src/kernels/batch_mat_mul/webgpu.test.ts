import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { installKernels } from '../install';
import { matMulHandles, matMulWebGPU } from './webgpu';
import { relativeError, useNodeWebGPU } from '../webgpu/testing';

const unavailable = await useNodeWebGPU();
if (unavailable) console.warn(`skipping the WebGPU matmul tests: ${unavailable}`);

afterAll(async () => {
  installKernels('webgpu', { kernels: 'stock' });
  await tf.setBackend('cpu');
});

interface Case {
  /** Rows, depth, cols of the product. */
  m: number;
  k: number;
  n: number;
  transposeA: boolean;
  transposeB: boolean;
  /** Rank-3 operands, a "batch" of one pair. */
  batchOfOne?: boolean;
}

const CASES: Case[] = [
  { m: 300, k: 128, n: 200, transposeA: false, transposeB: true }, // kNN / uniformity similarity blocks
  { m: 128, k: 3000, n: 128, transposeA: true, transposeB: false }, // covariance zᵀz: 4 tiles, split-K
  { m: 65, k: 130, n: 67, transposeA: false, transposeB: false }, // ragged tiles everywhere
  { m: 70, k: 33, n: 5, transposeA: true, transposeB: true },
  { m: 1, k: 1, n: 1, transposeA: false, transposeB: false },
  { m: 3, k: 7, n: 5, transposeA: false, transposeB: false, batchOfOne: true },
];

function operands(c: Case, seed: number) {
  const aShape = c.transposeA ? [c.k, c.m] : [c.m, c.k];
  const bShape = c.transposeB ? [c.n, c.k] : [c.k, c.n];
  return {
    a: tf.randomNormal(c.batchOfOne ? [1, ...aShape] : aShape, 0, 1, 'float32', seed),
    b: tf.randomNormal(c.batchOfOne ? [1, ...bShape] : bShape, 0, 1, 'float32', seed + 1),
  };
}

describe.skipIf(unavailable !== null)('tiled BatchMatMul on WebGPU', () => {
  it.each(CASES)(
    '[$m x $k] x [$k x $n] (transposeA $transposeA, transposeB $transposeB): the stock values and gradients',
    async (c) => {
      const { a, b } = operands(c, 3);
      const product = (x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y, c.transposeA, c.transposeB);
      const upstream = tf.randomNormal([...(c.batchOfOne ? [1] : []), c.m, c.n], 0, 1, 'float32', 9);
      const withGrads = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(product(x, y), upstream));
      installKernels('webgpu', { kernels: 'stock' });
      const stock = product(a, b);
      const stockGrads = tf.grads(withGrads)([a, b]);

      const backend = tf.backend();
      const before = backend.numDataIds();
      const info = matMulWebGPU({
        inputs: { a, b },
        backend,
        attrs: { transposeA: c.transposeA, transposeB: c.transposeB },
      });
      expect(info).not.toBeNull(); // the project kernel, not a fall-back
      expect(backend.numDataIds()).toBe(before + 1); // split-K partials released
      const direct = tf.engine().makeTensorFromTensorInfo(info!);
      expect(direct.shape).toEqual(stock.shape);
      expect(await relativeError(direct, stock)).toBeLessThan(1e-5);

      installKernels('webgpu');
      const profiled = await tf.profile(() => tf.grads(withGrads)([a, b]));
      const grads = profiled.result as tf.Tensor[];
      expect(profiled.kernels.filter((k) => k.name === 'BatchMatMul').length).toBeGreaterThanOrEqual(2);
      for (const [i, g] of grads.entries()) {
        expect(g.shape).toEqual(stockGrads[i].shape);
        expect(await relativeError(g, stockGrads[i])).toBeLessThan(1e-4);
      }
      tf.dispose([a, b, upstream, stock, direct, ...stockGrads, ...grads]);
    },
  );

  it('leaves batched and integer products to the stock kernel, with the same results', async () => {
    const a = tf.randomNormal([3, 4, 5], 0, 1, 'float32', 1);
    const b = tf.randomNormal([3, 5, 6], 0, 1, 'float32', 2);
    const ints = tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32');
    expect(matMulHandles(a, b)).toBe(false);
    expect(matMulHandles(ints, ints)).toBe(false);
    expect(
      matMulWebGPU({
        inputs: { a, b },
        backend: tf.backend(),
        attrs: { transposeA: false, transposeB: false },
      }),
    ).toBeNull();
    installKernels('webgpu');
    const project = [tf.matMul(a, b), tf.matMul(ints, ints)];
    installKernels('webgpu', { kernels: 'stock' });
    const stock = [tf.matMul(a, b), tf.matMul(ints, ints)];
    expect(await relativeError(project[0], stock[0])).toBe(0);
    expect(Array.from(await project[1].data())).toEqual([7, 10, 15, 22]);
    tf.dispose([a, b, ints, ...project, ...stock]);
  });

  it('takes float32 tensors cast from int32 (tfjs keeps the int32 buffer under the float32 label)', async () => {
    installKernels('webgpu');
    const labels = tf.tensor1d([0, 2, 1, 2, 0], 'int32');
    const oneHot = tf.cast(tf.oneHot(labels, 3), 'float32'); // [5, 3], an int32 buffer underneath
    const backend = tf.backend();
    expect(
      matMulWebGPU({
        inputs: { a: oneHot, b: oneHot },
        backend,
        attrs: { transposeA: true, transposeB: false },
      }),
    ).not.toBeNull();
    const classCounts = tf.matMul(oneHot, oneHot, true, false); // the project kernel
    const sameClass = tf.matMul(oneHot, oneHot, false, true);
    const columnSums = tf.sum(oneHot, 0); // the project's leading-axes Sum
    const nearest = tf.topk(tf.reshape(oneHot, [15]), 2); // the project's TopK
    expect(Array.from(await classCounts.data())).toEqual([2, 0, 0, 0, 1, 0, 0, 0, 2]);
    expect(Array.from(await sameClass.data()).slice(0, 5)).toEqual([1, 0, 0, 0, 1]);
    expect(Array.from(await columnSums.data())).toEqual([2, 1, 2]);
    expect(Array.from(await nearest.indices.data())).toEqual([0, 5]);
    tf.dispose([labels, oneHot, classCounts, sameClass, columnSums, nearest.values, nearest.indices]);
  });

  it('names both shapes when the inner dimensions differ', () => {
    const a = tf.zeros([2, 3]);
    const b = tf.zeros([4, 5]);
    expect(() =>
      matMulWebGPU({
        inputs: { a, b },
        backend: tf.backend(),
        attrs: { transposeA: false, transposeB: false },
      }),
    ).toThrow(/inner dimensions differ \(3 vs 4\) for a \[2, 3\] x b \[4, 5\]/);
    tf.dispose([a, b]);
  });
});
