import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { installKernels } from '../install';
import { sumWebGPU, meanWebGPU } from '../sum_mean/webgpu';
import { trailingReducedAxes } from '../webgpu/inner_reduce';
import { useNodeWebGPU } from '../webgpu/testing';
import { maxWebGPU, minWebGPU } from './webgpu';

const unavailable = await useNodeWebGPU();
if (unavailable) console.warn(`skipping the WebGPU innermost reduction tests: ${unavailable}`);

afterAll(async () => {
  installKernels('webgpu', { kernels: 'stock' });
  await tf.setBackend('cpu');
});

describe('innermost reduction plan', () => {
  it('recognises trailing axes, up to all of them', () => {
    expect(trailingReducedAxes([2, 3, 4], -1)).toBe(1);
    expect(trailingReducedAxes([2, 3, 4], [2, 1])).toBe(2);
    expect(trailingReducedAxes([2, 3, 4], [0, 1, 2])).toBe(3);
    expect(trailingReducedAxes([2, 3, 4], [0, 2])).toBeNull();
    expect(trailingReducedAxes([2, 3, 4], [1])).toBeNull();
  });
});

interface Case {
  shape: number[];
  axis: number | number[];
  keepDims: boolean;
}

const INNER: Case[] = [
  { shape: [5, 4, 4, 3], axis: -1, keepDims: true }, // per-pixel colour reductions of the jitter augmentations
  { shape: [5, 4, 4, 3], axis: [3], keepDims: false },
  { shape: [2, 3, 4, 6], axis: [2, 3], keepDims: false },
  { shape: [4, 4], axis: [0, 1], keepDims: false }, // everything, 16 values
];

function values(shape: number[], seed: number): tf.Tensor {
  return tf.randomNormal(shape, 0.5, 1, 'float32', seed);
}

describe.skipIf(unavailable !== null)('Sum, Mean, Max and Min over a few innermost values on WebGPU', () => {
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
      installKernels('webgpu', { kernels: 'stock' });
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
      installKernels('webgpu');
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
});
