import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { installKernels } from '../install';
import { MAX_K, topKHandles, topKWebGPU } from './webgpu';
import { useNodeWebGPU } from '../webgpu/testing';

const unavailable = await useNodeWebGPU();
if (unavailable) console.warn(`skipping the WebGPU TopK tests: ${unavailable}`);

afterAll(async () => {
  installKernels('webgpu', { kernels: 'stock' });
  await tf.setBackend('cpu');
});

/**
 * The definition tf.topk documents, computed in plain JS: per row, the k largest values, sorted descending,
 * ties by lower index first; NaN above everything (the project kernel's documented choice).
 */
function referenceTopK(data: Float32Array, n: number, k: number): { values: number[]; indices: number[] } {
  const values: number[] = [];
  const indices: number[] = [];
  const rank = (v: number) => (Number.isNaN(v) ? Infinity : v);
  for (let start = 0; start < data.length; start += n) {
    const order = Array.from({ length: n }, (_, j) => j).sort((a, b) => {
      const [va, vb] = [data[start + a], data[start + b]];
      if (Number.isNaN(va) !== Number.isNaN(vb)) return Number.isNaN(va) ? -1 : 1;
      return rank(vb) - rank(va) || a - b;
    });
    for (const j of order.slice(0, k)) {
      values.push(data[start + j]);
      indices.push(j);
    }
  }
  return { values, indices };
}

/** Runs the project kernel directly (so a fall-back to the stock kernel cannot pass for it). */
async function projectTopK(x: tf.Tensor, k: number) {
  const backend = tf.backend();
  const before = backend.numDataIds();
  const out = topKWebGPU({ inputs: { x }, backend, attrs: { k, sorted: true } });
  expect(out).not.toBeNull();
  expect(backend.numDataIds()).toBe(before + 2); // values and indices, nothing left behind
  const [values, indices] = out!.map((info) => tf.engine().makeTensorFromTensorInfo(info));
  expect(values.shape).toEqual([...x.shape.slice(0, -1), k]);
  expect(indices.shape).toEqual(values.shape);
  expect(indices.dtype).toBe('int32');
  const result = { values: Array.from(await values.data()), indices: Array.from(await indices.data()) };
  tf.dispose([values, indices]);
  return result;
}

async function expectReference(x: tf.Tensor, k: number) {
  const n = x.shape[x.shape.length - 1];
  const expected = referenceTopK((await x.data()) as Float32Array, n, k);
  const actual = await projectTopK(x, k);
  expect(actual.indices).toEqual(expected.indices);
  expect(actual.values).toEqual(expected.values);
}

describe.skipIf(unavailable !== null)('one-pass TopK on WebGPU', () => {
  it.each([
    { shape: [64, 2048], k: 200 }, // the kNN monitor's shape (64 of its 2,048 query rows)
    { shape: [5, 300], k: 1 },
    { shape: [5, 300], k: 300 }, // k = n
    { shape: [3, 1000], k: 513 }, // 1,024 sort slots, most of them padding
    { shape: [2, 1500], k: MAX_K }, // the largest k the kernel takes
    { shape: [7, 257], k: 33 }, // n one past the workgroup width, k not a power of two
    { shape: [1, 2], k: 1 },
    { shape: [300], k: 17 }, // rank 1
    { shape: [2, 3, 50], k: 6 }, // rank 3
  ])('$shape, k = $k: the k largest, sorted, as the definition gives', async ({ shape, k }) => {
    const x = tf.randomNormal(shape, 0, 1, 'float32', 5);
    await expectReference(x, k);
    x.dispose();
  });

  it('breaks ties by the lower index, also across the threshold and across workgroup chunks', async () => {
    // 8 distinct values over 600 columns: the k-th value is tied with dozens of others spread over 3 chunks
    const quantised = tf.tidy(() => tf.floor(tf.mul(tf.randomUniform([6, 600], 0, 1, 'float32', 9), 8)));
    for (const k of [1, 50, 75, 599]) await expectReference(quantised, k);
    const constant = tf.fill([3, 513], 2.5);
    await expectReference(constant, 100); // every value equal: the first 100 indices
    quantised.dispose();
    constant.dispose();
  });

  it('orders signed zeros, infinities and NaN consistently', async () => {
    const x = tf.tensor2d(
      [
        [0, -0, 1, -Infinity, Infinity, -1, -0, 0, NaN, 2e-38, -2e-38, 1e38],
        [-5, -4, -3, -2, -1, -0, 0, -Infinity, -Infinity, -2e-38, 2e-38, -2],
      ],
      [2, 12],
    );
    await expectReference(x, 12);
    await expectReference(x, 5);
    const first = await projectTopK(x, 3);
    expect(first.indices.slice(0, 3)).toEqual([8, 4, 11]); // NaN, +Infinity, 1e38
    x.dispose();
  });

  it('is what tf.topk runs once registered, with the stock results on distinct values', async () => {
    const x = tf.randomNormal([40, 700], 0, 1, 'float32', 3);
    installKernels('webgpu', { kernels: 'stock' });
    const stock = tf.topk(x, 64);
    installKernels('webgpu');
    const profiled = await tf.profile(() => tf.topk(x, 64));
    const project = profiled.result as unknown as { values: tf.Tensor; indices: tf.Tensor };
    // one program for the indices, one gather: the stock kernel dispatches dozens of bitonic passes
    expect(profiled.kernels.filter((kernel) => kernel.name === 'TopK')).toHaveLength(1);
    expect(Array.from(await project.indices.data())).toEqual(Array.from(await stock.indices.data()));
    expect(Array.from(await project.values.data())).toEqual(Array.from(await stock.values.data()));
    tf.dispose([x, stock.values, stock.indices, project.values, project.indices]);
  });

  it('leaves inputs it does not handle to the stock kernel', async () => {
    expect(topKHandles([4, 2000], 'float32', MAX_K + 1)).toBe(false);
    expect(topKHandles([4, 10], 'int32', 3)).toBe(false);
    expect(topKHandles([4, 1], 'float32', 1)).toBe(false);
    expect(topKHandles([4, 10], 'float32', 3)).toBe(true);
    const ints = tf.tensor2d([3, 1, 2, 9, 7, 8], [2, 3], 'int32');
    const big = tf.randomNormal([2, 1100], 0, 1, 'float32', 4);
    const backend = tf.backend();
    expect(topKWebGPU({ inputs: { x: ints }, backend, attrs: { k: 2, sorted: true } })).toBeNull();
    expect(topKWebGPU({ inputs: { x: big }, backend, attrs: { k: MAX_K + 1, sorted: true } })).toBeNull();
    installKernels('webgpu');
    const viaInts = tf.topk(ints, 2);
    const viaBig = tf.topk(big, MAX_K + 1);
    expect(Array.from(await viaInts.values.data())).toEqual([3, 2, 9, 8]);
    const expected = referenceTopK((await big.data()) as Float32Array, 1100, MAX_K + 1);
    expect(Array.from(await viaBig.values.data())).toEqual(expected.values);
    tf.dispose([ints, big, viaInts.values, viaInts.indices, viaBig.values, viaBig.indices]);
  });
});
