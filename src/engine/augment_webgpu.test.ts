import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { jitterTestPixels } from '../kernels/color_jitter/testing';
import { installKernels } from '../kernels/install';
import { COLOR_JITTER_KERNEL } from '../kernels/ops';
import { useNodeWebGPU } from '../kernels/webgpu/testing';
import { Rng } from '../nn/random';
import { AUGMENT_PRESETS, applyAugmentParams, sampleAugmentParams, type AugmentConfig } from './augment';

// The augmentation on WebGPU (Dawn; SwiftShader without a GPU); the colour jitter kernel itself is tested against
// its reference in src/kernels/color_jitter.
const unavailable = await useNodeWebGPU();
if (unavailable) console.warn(`skipping the WebGPU augmentation tests: ${unavailable}`);

afterAll(async () => {
  installKernels('webgpu', { kernels: 'stock' });
  await tf.setBackend('cpu');
});

describe.skipIf(unavailable !== null)('augmentation on WebGPU', () => {
  it('runs as one kernel after the crop', async () => {
    await tf.setBackend('webgpu');
    installKernels('webgpu');
    const shape: [number, number, number, number] = [16, 16, 16, 3];
    const params = sampleAugmentParams(16, 16, 16, AUGMENT_PRESETS['simclr-cifar'], new Rng(5));
    const images = tf.tensor4d(jitterTestPixels(shape, 9), shape);
    const profile = await tf.profile(() => applyAugmentParams(images, params, [16, 16]));
    expect(profile.kernels.map((k) => k.name)).toEqual(['CropAndResize', COLOR_JITTER_KERNEL]);
    tf.dispose([images, profile.result as tf.Tensor]);
  });

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
