import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { installKernels } from '../install';
import { COLOR_JITTER_KERNEL, colorJitter } from '../ops';
import {
  SIMCLR_JITTER,
  STRONG_JITTER,
  jitterTestParams,
  jitterTestPixels,
  twoOrders,
  worstDifference,
  type JitterStrengths,
} from './testing';

afterAll(async () => {
  installKernels('wasm', { kernels: 'stock' });
  await tf.setBackend('cpu');
});

/** colorJitter on `backend` (the reference unless the backend registers the kernel) and the kernels it ran. */
async function jitterOn(
  backend: string,
  shape: [number, number, number, number],
  params: Float32Array,
): Promise<{ values: Float32Array; kernels: string[] }> {
  await tf.setBackend(backend);
  const images = tf.tensor4d(jitterTestPixels(shape, 3), shape);
  const profile = await tf.profile(() => colorJitter(images, params));
  const out = profile.result as tf.Tensor;
  const values = (await out.data()) as Float32Array;
  tf.dispose([images, out]);
  return { values, kernels: profile.kernels.map((k) => k.name) };
}

describe('one-loop colour jitter on wasm', () => {
  it.each([
    { name: 'SimCLR CIFAR strengths, 32 x 32 RGB', shape: [48, 32, 32, 3], strengths: SIMCLR_JITTER },
    {
      name: 'strong jitter (every order, large hue shifts), 20 x 17 RGB',
      shape: [40, 20, 17, 3],
      strengths: STRONG_JITTER,
    },
    {
      name: 'grayscale images (brightness and contrast only)',
      shape: [24, 28, 28, 1],
      strengths: STRONG_JITTER,
    },
  ] as Array<{ name: string; shape: [number, number, number, number]; strengths: JitterStrengths }>)(
    '$name: matches the reference on cpu to 1e-5, as one kernel',
    async ({ shape, strengths }) => {
      const params = jitterTestParams(shape[0], strengths, 11);
      expect(params.some((v, i) => i % 10 === 0 && v === 1)).toBe(true);
      const expected = await jitterOn('cpu', shape, params);
      await tf.setBackend('wasm');
      installKernels('wasm');
      const before = tf.memory().numTensors;
      const actual = await jitterOn('wasm', shape, params);
      expect(tf.memory().numTensors).toBe(before);
      expect(actual.kernels).toEqual([COLOR_JITTER_KERNEL]);
      expect(worstDifference(actual.values, expected.values)).toBeLessThan(1e-5);
      // jitter changed the images: the kernel cannot pass by copying its input through
      expect(worstDifference(expected.values, jitterTestPixels(shape, 3))).toBeGreaterThan(0.05);
    },
  );

  it('applies each image its own order, and the stock kernels take the reference', async () => {
    const shape: [number, number, number, number] = [2, 8, 8, 3];
    const params = twoOrders();
    const expected = await jitterOn('cpu', shape, params);
    await tf.setBackend('wasm');
    installKernels('wasm');
    const actual = await jitterOn('wasm', shape, params);
    expect(worstDifference(actual.values, expected.values)).toBeLessThan(1e-5);
    const image = 8 * 8 * 3;
    expect(worstDifference(actual.values.subarray(0, image), actual.values.subarray(image))).toBeGreaterThan(
      0.01,
    );
    installKernels('wasm', { kernels: 'stock' });
    const stock = await jitterOn('wasm', shape, params);
    expect(stock.kernels).not.toContain(COLOR_JITTER_KERNEL);
    expect(worstDifference(stock.values, expected.values)).toBeLessThan(1e-5);
  });
});
