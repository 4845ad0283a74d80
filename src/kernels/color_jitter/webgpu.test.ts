import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { installKernels } from '../install';
import { COLOR_JITTER_KERNEL, colorJitter } from '../ops';
import { useNodeWebGPU } from '../webgpu/testing';
import {
  SIMCLR_JITTER,
  STRONG_JITTER,
  jitterTestParams,
  jitterTestPixels,
  twoOrders,
  worstDifference,
  type JitterStrengths,
} from './testing';

const unavailable = await useNodeWebGPU();
if (unavailable) console.warn(`skipping the WebGPU colour jitter tests: ${unavailable}`);

afterAll(async () => {
  installKernels('webgpu', { kernels: 'stock' });
  await tf.setBackend('cpu');
});

/** colorJitter on `backend` from the same pixels and parameters; the reference unless the kernel is registered. */
async function jitterOn(
  backend: string,
  shape: [number, number, number, number],
  params: Float32Array,
): Promise<Float32Array> {
  await tf.setBackend(backend);
  const images = tf.tensor4d(jitterTestPixels(shape, 3), shape);
  const out = colorJitter(images, params);
  const values = (await out.data()) as Float32Array;
  tf.dispose([images, out]);
  return values;
}

describe.skipIf(unavailable !== null)('one-pass colour jitter on WebGPU', () => {
  it.each([
    { name: 'SimCLR CIFAR strengths, 32 x 32 RGB', shape: [48, 32, 32, 3], strengths: SIMCLR_JITTER },
    {
      name: 'strong jitter (every order, large hue shifts), 20 x 17 RGB',
      shape: [40, 20, 17, 3],
      strengths: STRONG_JITTER,
    },
    {
      name: 'grayscale images (brightness and contrast only), 28 x 28',
      shape: [24, 28, 28, 1],
      strengths: STRONG_JITTER,
    },
  ] as Array<{ name: string; shape: [number, number, number, number]; strengths: JitterStrengths }>)(
    '$name: matches the reference on cpu to 1e-5',
    async ({ shape, strengths }) => {
      const params = jitterTestParams(shape[0], strengths, 11);
      expect(params.some((v, i) => i % 10 === 0 && v === 1)).toBe(true);
      const expected = await jitterOn('cpu', shape, params);
      await tf.setBackend('webgpu');
      installKernels('webgpu');
      expect(tf.getKernel(COLOR_JITTER_KERNEL, 'webgpu')).toBeDefined();
      const before = tf.memory().numTensors;
      const actual = await jitterOn('webgpu', shape, params);
      expect(tf.memory().numTensors).toBe(before);
      expect(worstDifference(actual, expected)).toBeLessThan(1e-5);
      // jitter changed the images: the kernel cannot pass by copying its input through
      expect(worstDifference(expected, jitterTestPixels(shape, 3))).toBeGreaterThan(0.05);
    },
  );

  it('applies each image its own order: contrast before or after brightness gives different images', async () => {
    const shape: [number, number, number, number] = [2, 8, 8, 3];
    const params = twoOrders();
    const expected = await jitterOn('cpu', shape, params);
    await tf.setBackend('webgpu');
    installKernels('webgpu');
    const actual = await jitterOn('webgpu', shape, params);
    expect(worstDifference(actual, expected)).toBeLessThan(1e-5);
    const image = 8 * 8 * 3;
    expect(worstDifference(actual.subarray(0, image), actual.subarray(image))).toBeGreaterThan(0.01);
  });

  it('runs as one kernel', async () => {
    await tf.setBackend('webgpu');
    installKernels('webgpu');
    const shape: [number, number, number, number] = [16, 16, 16, 3];
    const params = jitterTestParams(16, SIMCLR_JITTER, 5);
    const images = tf.tensor4d(jitterTestPixels(shape, 9), shape);
    const profile = await tf.profile(() => colorJitter(images, params));
    expect(profile.kernels.map((k) => k.name)).toEqual([COLOR_JITTER_KERNEL]);
    tf.dispose([images, profile.result as tf.Tensor]);
  });
});
