import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AUGMENT_PRESETS,
  COLOR_JITTER_KERNEL,
  applyAugmentParams,
  sampleAugmentParams,
  type AugmentConfig,
  type ImageAugmentParams,
} from '../../engine/augment';
import { Rng } from '../../nn/random';
import { STRONG_JITTER, jitterTestPixels, worstDifference } from '../color_jitter_testing';
import { registerWebGPUKernels, unregisterWebGPUKernels } from './index';
import { useNodeWebGPU } from './testing';

const unavailable = await useNodeWebGPU();
if (unavailable) console.warn(`skipping the WebGPU colour jitter tests: ${unavailable}`);

afterAll(async () => {
  unregisterWebGPUKernels();
  await tf.setBackend('cpu');
});

/** applyAugmentParams on `backend` from the same pixels and parameters; the op path unless the kernel is registered. */
async function augmentOn(
  backend: string,
  shape: [number, number, number, number],
  params: ImageAugmentParams[],
  outSize: [number, number],
): Promise<Float32Array> {
  await tf.setBackend(backend);
  const images = tf.tensor4d(jitterTestPixels(shape, 3), shape);
  const out = applyAugmentParams(images, params, outSize);
  const values = (await out.data()) as Float32Array;
  tf.dispose([images, out]);
  return values;
}

describe.skipIf(unavailable !== null)('one-pass colour jitter on WebGPU', () => {
  it.each([
    {
      name: 'SimCLR CIFAR preset, 32 x 32 RGB',
      shape: [48, 32, 32, 3],
      cfg: AUGMENT_PRESETS['simclr-cifar'],
      out: [32, 32],
    },
    {
      name: 'strong jitter (every order, large hue shifts), 20 x 17 RGB, resized',
      shape: [40, 24, 24, 3],
      cfg: STRONG_JITTER,
      out: [20, 17],
    },
    {
      name: 'grayscale images (brightness and contrast only), 28 x 28',
      shape: [24, 28, 28, 1],
      cfg: STRONG_JITTER,
      out: [28, 28],
    },
  ] as Array<{
    name: string;
    shape: [number, number, number, number];
    cfg: AugmentConfig;
    out: [number, number];
  }>)('$name: matches the op path on cpu to 1e-5', async ({ shape, cfg, out }) => {
    const params = sampleAugmentParams(shape[0], shape[1], shape[2], cfg, new Rng(11));
    expect(params.some((p) => p.jitter !== null)).toBe(true);
    const expected = await augmentOn('cpu', shape, params, out);
    await tf.setBackend('webgpu');
    registerWebGPUKernels({ inputGradient: false });
    expect(tf.getKernel(COLOR_JITTER_KERNEL, 'webgpu')).toBeDefined();
    const before = tf.memory().numTensors;
    const actual = await augmentOn('webgpu', shape, params, out);
    expect(tf.memory().numTensors).toBe(before);
    expect(worstDifference(actual, expected)).toBeLessThan(1e-5);
    // jitter changed the images: the kernel cannot pass by copying the crop through
    const cropOnly = await augmentOn(
      'cpu',
      shape,
      params.map((p) => ({ ...p, jitter: null, grayscale: false })),
      out,
    );
    expect(worstDifference(expected, cropOnly)).toBeGreaterThan(0.05);
  });

  it('applies each image its own order: contrast before or after brightness gives different images', async () => {
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
    await tf.setBackend('webgpu');
    registerWebGPUKernels({ inputGradient: false });
    const actual = await augmentOn('webgpu', shape, params, [8, 8]);
    expect(worstDifference(actual, expected)).toBeLessThan(1e-5);
    const image = 8 * 8 * 3;
    expect(worstDifference(actual.subarray(0, image), actual.subarray(image))).toBeGreaterThan(0.01);
  });

  it('runs as one kernel after the crop', async () => {
    await tf.setBackend('webgpu');
    registerWebGPUKernels({ inputGradient: false });
    const shape: [number, number, number, number] = [16, 16, 16, 3];
    const params = sampleAugmentParams(16, 16, 16, AUGMENT_PRESETS['simclr-cifar'], new Rng(5));
    const images = tf.tensor4d(jitterTestPixels(shape, 9), shape);
    const profile = await tf.profile(() => applyAugmentParams(images, params, [16, 16]));
    expect(profile.kernels.map((k) => k.name)).toEqual(['CropAndResize', COLOR_JITTER_KERNEL]);
    tf.dispose([images, profile.result as tf.Tensor]);
  });
});

describe.skipIf(unavailable !== null)('random resized crop on WebGPU', () => {
  it('crops that reach the far edge sample inside the image: no extrapolated (black) pixels', async () => {
    await tf.setBackend('webgpu');
    // a constant image: every view pixel must be that constant; tfjs-webgpu's CropAndResize returned its
    // extrapolation value 0 for samples at exactly the last pixel once float32 rounding put them past it
    const images = tf.fill([64, 28, 28, 1], 0.75) as tf.Tensor4D;
    const cfg: AugmentConfig = {
      ...AUGMENT_PRESETS.none,
      crop: { scale: [0.3, 1], ratio: [3 / 4, 4 / 3] },
      flip: 0.5,
    };
    for (const [seed, out] of [
      [11, [28, 28]],
      [12, [32, 32]],
      [13, [20, 17]],
    ] as Array<[number, [number, number]]>) {
      const params = sampleAugmentParams(64, 28, 28, cfg, new Rng(seed));
      const view = applyAugmentParams(images, params, out);
      const values = await view.data();
      expect(Math.min(...values)).toBeCloseTo(0.75, 5);
      expect(Math.max(...values)).toBeCloseTo(0.75, 5);
      view.dispose();
    }
    images.dispose();
  });
});
