import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend';
import { onCpuAndWasm } from './conv_testing';

// The kernels registered for wasm because the stock ones are wrong (OneHot) or missing (UnsortedSegmentSum),
// against the cpu backend's, on the cases the stock wasm kernels got wrong and the edges (out-of-range ids).

beforeAll(async () => {
  const report = await initBackend({ preferred: 'wasm', environment: 'node', kernels: 'stock' });
  // required kernels stay registered even with the stock set
  expect(report.kernels).toEqual(
    expect.arrayContaining([tf.OneHot, tf.UnsortedSegmentSum, tf.Conv2DBackpropFilter]),
  );
  expect(report.kernels).not.toContain(tf.Conv2DBackpropInput);
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('wasm OneHot (float32)', () => {
  it('writes float values, with off values, out-of-range ids and a 2-D index tensor, like cpu', async () => {
    const { cpu, wasm } = await onCpuAndWasm(() => [
      tf.oneHot(tf.tensor1d([0, 2, 1, 3, -1], 'int32'), 3, 1, 0, 'float32').arraySync(),
      tf
        .oneHot(
          tf.tensor2d(
            [
              [1, 0],
              [2, 2],
            ],
            [2, 2],
            'int32',
          ),
          3,
          0.5,
          -1e9,
          'float32',
        )
        .arraySync(),
    ]);
    expect(wasm).toEqual(cpu);
    expect(wasm[0]).toEqual([
      [1, 0, 0],
      [0, 0, 1],
      [0, 1, 0],
      [0, 0, 0],
      [0, 0, 0],
    ]);
    expect((wasm[1] as number[][][])[1][0]).toEqual([-1e9, -1e9, 0.5]);
  });

  it('leaves int32 one-hots to the stock kernel, which gets them right', async () => {
    const { cpu, wasm } = await onCpuAndWasm(() => {
      const t = tf.oneHot(tf.tensor1d([2, 0], 'int32'), 4);
      return { dtype: t.dtype, values: t.arraySync() };
    });
    expect(wasm).toEqual(cpu);
    expect(wasm.dtype).toBe('int32');
  });
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
