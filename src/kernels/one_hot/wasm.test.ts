import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onCpuAndWasm } from '../conv_testing';
import { installKernels } from '../install';

// The float32 OneHot registered for wasm because the stock one writes int32 bits, against the cpu backend's,
// on the cases the stock wasm kernel got wrong and the edges (out-of-range ids).

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
