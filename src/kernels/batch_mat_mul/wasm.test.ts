import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { installKernels } from '../install';
import { batchMatMulSimd } from './wasm';
import { simdKernelCalls } from '../wasm/runtime';

afterAll(async () => {
  installKernels('wasm', { kernels: 'stock' });
  await tf.setBackend('cpu');
});

function values(size: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: size }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

interface Case {
  a: number[];
  b: number[];
  transposeA: boolean;
  transposeB: boolean;
}

/** tf.matMul on cpu (the reference) and batchMatMulSimd on wasm, for the same values. */
async function both(c: Case) {
  const av = values(
    c.a.reduce((x, y) => x * y, 1),
    3,
  );
  const bv = values(
    c.b.reduce((x, y) => x * y, 1),
    4,
  );
  await tf.setBackend('cpu');
  const expected = tf.matMul(tf.tensor(av, c.a), tf.tensor(bv, c.b), c.transposeA, c.transposeB);
  const reference = { shape: expected.shape, values: await expected.data() };
  tf.dispose(expected);
  await tf.setBackend('wasm');
  const a = tf.tensor(av, c.a);
  const b = tf.tensor(bv, c.b);
  const attrs = { transposeA: c.transposeA, transposeB: c.transposeB } as unknown as tf.NamedAttrMap;
  const before = tf.backend().numDataIds();
  const info = batchMatMulSimd({ inputs: { a, b }, backend: tf.backend(), attrs });
  const leftBehind = tf.backend().numDataIds() - before - (info == null ? 0 : 1);
  let actual: { shape: number[]; values: Float32Array } | null = null;
  if (info != null) {
    const out = tf.engine().makeTensorFromTensorInfo(info);
    actual = { shape: out.shape, values: (await out.data()) as Float32Array };
    out.dispose();
  }
  tf.dispose([a, b]);
  return { reference, actual, leftBehind };
}

describe('batchMatMulSimd', () => {
  it.each<Case>([
    { a: [1, 128, 64], b: [1, 64, 32], transposeA: false, transposeB: false },
    { a: [10, 16], b: [16, 8], transposeA: false, transposeB: false }, // 10 rows: one image of 10 pixels
    { a: [20, 12], b: [16, 12], transposeA: false, transposeB: true }, // a dense layer's input gradient
    { a: [1, 12, 20], b: [1, 12, 24], transposeA: true, transposeB: false }, // its weight gradient
    { a: [9, 6], b: [9, 5], transposeA: true, transposeB: false }, // channels padded to the tile
    { a: [1, 1, 8, 7], b: [7, 16], transposeA: false, transposeB: false }, // rank 4 and rank 2: batch of one
  ])('$a x $b (transposeA $transposeA, transposeB $transposeB) matches cpu to 1e-5', async (c) => {
    const { reference, actual, leftBehind } = await both(c);
    expect(actual).not.toBeNull();
    expect(actual!.shape).toEqual(reference.shape);
    expect(maxAbsDiff(actual!.values, reference.values)).toBeLessThan(1e-5);
    expect(leftBehind).toBe(0);
  });

  it.each<Case>([
    { a: [2, 8, 4], b: [2, 4, 8], transposeA: false, transposeB: false }, // a real batch
    { a: [4, 8], b: [8, 4], transposeA: true, transposeB: true },
    { a: [8, 4], b: [4, 12], transposeA: false, transposeB: false }, // 12 columns: not a multiple of 8
    { a: [3, 4], b: [4, 8], transposeA: false, transposeB: false }, // 3 rows
  ])('leaves $a x $b (transposeA $transposeA, transposeB $transposeB) to the stock kernel', async (c) => {
    const { actual } = await both(c);
    expect(actual).toBeNull();
  });

  it("carries a dense layer's forward and both gradients on wasm when registered", async () => {
    const x = values(16 * 24, 5);
    const w = values(24 * 32, 6);
    const dy = values(16 * 32, 7);
    const run = async () => {
      const [xt, wt, dyt] = [tf.tensor(x, [16, 24]), tf.tensor(w, [24, 32]), tf.tensor(dy, [16, 32])];
      const f = (p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.matMul(p, q), dyt));
      const grads = tf.grads(f)([xt, wt]);
      const out = await Promise.all(grads.map((g) => g.data()));
      tf.dispose([xt, wt, dyt, ...grads]);
      return out;
    };
    await tf.setBackend('cpu');
    const expected = await run();
    await tf.setBackend('wasm');
    installKernels('wasm');
    const calls = { conv: simdKernelCalls.conv ?? 0, filterGrad: simdKernelCalls.filterGrad ?? 0 };
    const actual = await run();
    // dx = dy·wᵀ on the convolution kernel, dw = xᵀ·dy on the filter-gradient kernel
    expect(simdKernelCalls.conv).toBeGreaterThan(calls.conv);
    expect(simdKernelCalls.filterGrad).toBe(calls.filterGrad + 1);
    expect(maxAbsDiff(actual[0], expected[0])).toBeLessThan(1e-5);
    expect(maxAbsDiff(actual[1], expected[1])).toBeLessThan(1e-5);
  });
});
