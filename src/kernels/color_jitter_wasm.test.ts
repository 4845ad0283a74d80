import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AUGMENT_PRESETS,
  COLOR_JITTER_KERNEL,
  applyAugmentParams,
  sampleAugmentParams,
  type AugmentConfig,
  type ImageAugmentParams,
} from '../engine/augment';
import { Rng } from '../nn/random';
import { STRONG_JITTER, jitterTestPixels, worstDifference } from './color_jitter_testing';
import { registerProjectKernels, unregisterProjectKernels } from './register';

afterAll(async () => {
  unregisterProjectKernels('wasm');
  await tf.setBackend('cpu');
});

/** applyAugmentParams on `backend` (the op path unless the backend registers the kernel) and the kernels it ran. */
async function augmentOn(
  backend: string,
  shape: [number, number, number, number],
  params: ImageAugmentParams[],
  outSize: [number, number],
): Promise<{ values: Float32Array; kernels: string[] }> {
  await tf.setBackend(backend);
  const images = tf.tensor4d(jitterTestPixels(shape, 3), shape);
  const profile = await tf.profile(() => applyAugmentParams(images, params, outSize));
  const out = profile.result as tf.Tensor;
  const values = (await out.data()) as Float32Array;
  tf.dispose([images, out]);
  return { values, kernels: profile.kernels.map((k) => k.name) };
}

describe('one-loop colour jitter on wasm', () => {
  it.each([
    {
      name: 'SimCLR CIFAR preset, 32 x 32 RGB',
      shape: [48, 32, 32, 3],
      cfg: AUGMENT_PRESETS['simclr-cifar'],
      out: [32, 32],
    },
    {
      name: 'strong jitter (every order, large hue shifts), resized',
      shape: [40, 24, 24, 3],
      cfg: STRONG_JITTER,
      out: [20, 17],
    },
    {
      name: 'grayscale images (brightness and contrast only)',
      shape: [24, 28, 28, 1],
      cfg: STRONG_JITTER,
      out: [28, 28],
    },
  ] as Array<{
    name: string;
    shape: [number, number, number, number];
    cfg: AugmentConfig;
    out: [number, number];
  }>)(
    '$name: matches the op path on cpu to 1e-5, as one kernel after the crop',
    async ({ shape, cfg, out }) => {
      const params = sampleAugmentParams(shape[0], shape[1], shape[2], cfg, new Rng(11));
      expect(params.some((p) => p.jitter !== null)).toBe(true);
      const expected = await augmentOn('cpu', shape, params, out);
      await tf.setBackend('wasm');
      registerProjectKernels('wasm');
      const before = tf.memory().numTensors;
      const actual = await augmentOn('wasm', shape, params, out);
      expect(tf.memory().numTensors).toBe(before);
      expect(actual.kernels).toEqual(['CropAndResize', COLOR_JITTER_KERNEL]);
      expect(worstDifference(actual.values, expected.values)).toBeLessThan(1e-5);
      // jitter changed the images: the kernel cannot pass by copying the crop through
      const cropOnly = await augmentOn(
        'cpu',
        shape,
        params.map((p) => ({ ...p, jitter: null, grayscale: false })),
        out,
      );
      expect(worstDifference(expected.values, cropOnly.values)).toBeGreaterThan(0.05);
    },
  );

  it('applies each image its own order, and the stock kernels take the op path', async () => {
    const shape: [number, number, number, number] = [2, 8, 8, 3];
    const crop = { top: 0, left: 0, height: 8, width: 8 };
    const jitter = { brightness: 1.8, contrast: 0.3, saturation: 1, hue: 0 };
    const params: ImageAugmentParams[] = [
      {
        crop,
        flip: false,
        grayscale: false,
        jitter: { ...jitter, order: ['brightness', 'contrast', 'saturation', 'hue'] },
      },
      {
        crop,
        flip: false,
        grayscale: false,
        jitter: { ...jitter, order: ['contrast', 'brightness', 'hue', 'saturation'] },
      },
    ];
    const expected = await augmentOn('cpu', shape, params, [8, 8]);
    await tf.setBackend('wasm');
    registerProjectKernels('wasm');
    const actual = await augmentOn('wasm', shape, params, [8, 8]);
    expect(worstDifference(actual.values, expected.values)).toBeLessThan(1e-5);
    const image = 8 * 8 * 3;
    expect(worstDifference(actual.values.subarray(0, image), actual.values.subarray(image))).toBeGreaterThan(
      0.01,
    );
    unregisterProjectKernels('wasm');
    const stock = await augmentOn('wasm', shape, params, [8, 8]);
    expect(stock.kernels).not.toContain(COLOR_JITTER_KERNEL);
    expect(worstDifference(stock.values, expected.values)).toBeLessThan(1e-5);
  });
});
