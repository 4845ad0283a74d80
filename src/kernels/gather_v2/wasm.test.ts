import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onCpuAndWasm } from '../conv_testing';
import { installKernels } from '../install';
import type { KernelArgs } from '../backend_ops';
import { gatherSlices } from './wasm';

// The wasm GatherV2 of whole slices against the cpu backend's gather.

beforeAll(async () => {
  await tf.setBackend('wasm');
  expect(installKernels('wasm')).toContain(tf.GatherV2);
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

const CASES: {
  name: string;
  shape: number[];
  indices: number[] | number[][];
  axis: number;
  dtype?: 'int32';
}[] = [
  {
    name: 'images out of a batch, repeated and unordered',
    shape: [6, 8, 8, 3],
    indices: [5, 0, 0, 3],
    axis: 0,
  },
  { name: 'axis 1 with an outer dimension', shape: [3, 5, 8, 10], indices: [4, 1], axis: 1 },
  {
    name: '2-D indices',
    shape: [7, 64],
    indices: [
      [6, 1],
      [2, 2],
    ],
    axis: 0,
  },
  { name: 'int32 values', shape: [4, 80], indices: [3, 1], axis: 0, dtype: 'int32' },
  { name: 'small slices (stock kernel)', shape: [5, 4], indices: [4, 0, 2], axis: 0 },
  { name: 'no indices', shape: [5, 70], indices: [], axis: 0 },
];

describe('wasm GatherV2 of whole slices', () => {
  it.each(CASES)('$name: same values and shape as cpu', async ({ shape, indices, axis, dtype }) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const values = Array.from({ length: size }, (_, i) => (dtype === 'int32' ? i : Math.sin(i) * 100));
    const { cpu, wasm } = await onCpuAndWasm(() =>
      tf.tidy(() => {
        const x = tf.tensor(values, shape, dtype ?? 'float32');
        const ids = Array.isArray(indices[0])
          ? tf.tensor2d(indices as number[][], undefined, 'int32')
          : tf.tensor1d(indices as number[], 'int32');
        const out = tf.gather(x, ids, axis);
        return { shape: out.shape, dtype: out.dtype, values: Array.from(out.dataSync()) };
      }),
    );
    expect(wasm).toEqual(cpu);
  });

  it('does the work itself for slices of 64+ elements and leaves smaller ones to the stock kernel', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend();
    /** Whether gatherSlices handled the gather itself (else it returned null for the stock kernel). */
    const handled = (shape: number[]): boolean => {
      const x = tf.ones(shape);
      const indices = tf.tensor1d([0], 'int32');
      const args = {
        inputs: { x, indices },
        backend,
        attrs: { axis: 0, batchDims: 0 },
      } as unknown as KernelArgs;
      const out = gatherSlices(args);
      if (out !== null) backend.disposeData(out.dataId);
      tf.dispose([x, indices]);
      return out !== null;
    };
    expect(handled([2, 64])).toBe(true);
    expect(handled([2, 63])).toBe(false);
  });

  it('throws on an out-of-range index, naming it', async () => {
    await tf.setBackend('wasm');
    expect(() => tf.gather(tf.ones([3, 100]), tf.tensor1d([1, 3], 'int32'))).toThrow(
      /index value 3 is not in \[0, 2\]/,
    );
  });

  it('is differentiable (its gradient is the UnsortedSegmentSum kernel)', async () => {
    const { cpu, wasm } = await onCpuAndWasm(() =>
      tf.tidy(() => {
        const x = tf.tensor2d(
          Array.from({ length: 3 * 70 }, (_, i) => i / 70),
          [3, 70],
        );
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.gather(t, tf.tensor1d([2, 0, 2], 'int32')))))(
          x,
        );
        return Array.from(g.dataSync());
      }),
    );
    expect(wasm).toEqual(cpu);
  });
});
