import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onCpuAndWasm } from '../conv_testing';
import { installKernels } from '../install';

// The UnsortedSegmentSum registered for wasm because the backend has none, against the cpu backend's, with the
// edges (out-of-range ids).

beforeAll(async () => {
  await tf.setBackend('wasm');
  // required kernels stay registered even with the stock set
  const kernels = installKernels('wasm', { kernels: 'stock' });
  expect(kernels).toEqual(
    expect.arrayContaining([tf.OneHot, tf.UnsortedSegmentSum, tf.Conv2DBackpropFilter]),
  );
  expect(kernels).not.toContain(tf.Conv2DBackpropInput);
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('wasm UnsortedSegmentSum', () => {
  it('sums rows into segments, drops out-of-range ids, handles rank 3 and int32, like cpu', async () => {
    const { cpu, wasm } = await onCpuAndWasm(() => [
      tf
        .unsortedSegmentSum(
          tf.tensor2d([
            [1, 2],
            [3, 4],
            [5, 6],
            [7, 8],
          ]),
          tf.tensor1d([2, 0, 2, 5], 'int32'),
          4,
        )
        .arraySync(),
      tf
        .unsortedSegmentSum(
          tf.tensor3d([
            [[1], [2]],
            [[3], [4]],
          ]),
          tf.tensor1d([1, 1], 'int32'),
          2,
        )
        .arraySync(),
      tf.unsortedSegmentSum(tf.tensor1d([4, 5, 6], 'int32'), tf.tensor1d([1, 1, 0], 'int32'), 2).arraySync(),
    ]);
    expect(wasm).toEqual(cpu);
    expect(wasm[0]).toEqual([
      [3, 4],
      [0, 0],
      [6, 8],
      [0, 0],
    ]);
    expect(wasm[1]).toEqual([
      [[0], [0]],
      [[4], [6]],
    ]);
    expect(wasm[2]).toEqual([6, 9]);
  });

  it('rejects segment ids that are not one per row, naming both shapes', async () => {
    await tf.setBackend('wasm');
    expect(() =>
      tf.unsortedSegmentSum(
        tf.tensor2d([
          [1, 2],
          [3, 4],
        ]),
        tf.tensor1d([0, 1, 1], 'int32'),
        2,
      ),
    ).toThrow(/segmentIds must be 1-D with one id per row of x; got ids \[3\] for x \[2, 2\]/);
  });

  it('makes tf.gather differentiable on wasm (its gradient is this kernel)', async () => {
    const { cpu, wasm } = await onCpuAndWasm(() => {
      const x = tf.tensor2d([
        [1, 2],
        [3, 4],
        [5, 6],
      ]);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.gather(t, tf.tensor1d([2, 0, 2], 'int32')))))(
        x,
      );
      return g.arraySync();
    });
    expect(wasm).toEqual(cpu);
    expect(wasm).toEqual([
      [2, 4],
      [0, 0],
      [20, 24],
    ]);
  });
});
