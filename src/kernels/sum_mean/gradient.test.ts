import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { meanGradConfig, reducedAxes, sumGradConfig } from './gradient';
import { installKernels } from '../install';
import { relativeError } from '../webgpu/testing';

// Plain tfjs ops, so checked on the cpu backend of the unit tests (backend_parity.test.ts trains through them on
// wasm and webgpu).
const stockSum = tf.getGradient(tf.Sum)!;
const stockMean = tf.getGradient(tf.Mean)!;

afterEach(() => {
  installKernels('cpu', { kernels: 'stock' });
  tf.registerGradient(stockSum);
  tf.registerGradient(stockMean);
});

type Reduce = 'sum' | 'mean';

/** d/dx of sum(w · reduce(x, axis, keepDims)) with a random w, so every output element has its own weight. */
function reduceGradient(
  op: Reduce,
  shape: number[],
  axis: number | number[] | undefined,
  keepDims: boolean,
): tf.Tensor {
  return tf.tidy(() => {
    const x = tf.randomNormal(shape, 0, 1, 'float32', 11);
    const reduce = (a: tf.Tensor) => (op === 'sum' ? tf.sum(a, axis, keepDims) : tf.mean(a, axis, keepDims));
    const w = tf.randomNormal(reduce(x).shape, 0, 1, 'float32', 12);
    return tf.grad((a: tf.Tensor) => tf.sum(tf.mul(reduce(a), w)))(x);
  });
}

describe('Sum and Mean gradients without a host-side ones(x.shape)', () => {
  const cases: Array<{ shape: number[]; axis: number | number[] | undefined; keepDims: boolean }> = [
    { shape: [4, 5, 5, 6], axis: [0, 1, 2], keepDims: false }, // BatchNorm's moments
    { shape: [4, 5, 5, 6], axis: [1, 2], keepDims: false }, // global average pooling
    { shape: [4, 5, 5, 6], axis: [1, 2], keepDims: true },
    { shape: [6, 7], axis: -1, keepDims: true }, // row norms, log-sum-exp
    { shape: [6, 7], axis: 0, keepDims: false },
    { shape: [3, 4, 5], axis: undefined, keepDims: false }, // a mean loss
    { shape: [3, 4, 5], axis: [-1, 0], keepDims: true },
  ];
  for (const op of ['sum', 'mean'] as const) {
    it.each(cases)(
      `${op}: matches the stock gradient, shape $shape, axis $axis, keepDims $keepDims`,
      async ({ shape, axis, keepDims }) => {
        const expected = reduceGradient(op, shape, axis, keepDims);
        tf.registerGradient(op === 'sum' ? sumGradConfig : meanGradConfig);
        const before = tf.memory().numTensors;
        const actual = reduceGradient(op, shape, axis, keepDims);
        expect(tf.memory().numTensors - before).toBe(1);
        expect(actual.shape).toEqual(shape);
        expect(await relativeError(actual, expected)).toBeLessThan(1e-6);
        // the weights differ per output element, so a gradient broadcast along the wrong axes would not match;
        // a full reduction has one output, so one value everywhere
        const distinct = new Set(await actual.data()).size;
        if (axis === undefined) expect(distinct).toBe(1);
        else expect(distinct).toBeGreaterThan(1);
        tf.dispose([expected, actual]);
      },
    );
  }

  it('holds at least one x-sized tensor fewer at its peak than the stock gradient (ones, product, quotient)', async () => {
    const shape = [8, 16, 16, 32];
    const xBytes = shape.reduce((a, b) => a * b) * 4;
    const peak = async () => {
      const x = tf.randomNormal(shape, 0, 1, 'float32', 13);
      const info = await tf.profile(() =>
        tf.tidy(() => tf.grad((a: tf.Tensor) => tf.mean(tf.mean(a, [0, 1, 2])))(x)),
      );
      x.dispose();
      tf.dispose(info.result as tf.Tensor);
      return info.peakBytes;
    };
    const stockPeak = await peak();
    tf.registerGradient(meanGradConfig);
    const ourPeak = await peak();
    expect(stockPeak - ourPeak).toBeGreaterThanOrEqual(xBytes);
  });

  it("installKernels swaps them in for every backend and kernels: 'stock' restores the stock ones", () => {
    installKernels('cpu');
    expect(tf.getGradient(tf.Sum)).toBe(sumGradConfig);
    expect(tf.getGradient(tf.Mean)).toBe(meanGradConfig);
    installKernels('cpu'); // idempotent: the stock ones stay remembered
    installKernels('cpu', { kernels: 'stock' });
    expect(tf.getGradient(tf.Sum)).toBe(stockSum);
    expect(tf.getGradient(tf.Mean)).toBe(stockMean);
  });

  it('reducedAxes: all axes for undefined, negative axes from the end, a clear error out of range', () => {
    expect(reducedAxes(undefined, 3)).toEqual([0, 1, 2]);
    expect(reducedAxes(-1, 3)).toEqual([2]);
    expect(reducedAxes([0, -2], 4)).toEqual([0, 2]);
    expect(() => reducedAxes(3, 3)).toThrow(/axis 3 is out of range for a tensor of rank 3/);
  });
});
