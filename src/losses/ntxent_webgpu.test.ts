import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { installKernels } from '../kernels/install';
import { expectFusedMatchesStock } from '../kernels/fused_ntxent/testing';
import { FUSED_NTXENT_KERNEL } from '../kernels/ops';
import { relativeError, useNodeWebGPU } from '../kernels/webgpu/testing';
import { createNtxent } from './ntxent';

// NT-Xent on WebGPU (Dawn; SwiftShader without a GPU): two views take the fused kernels (src/kernels/fused_ntxent,
// tested against their reference there), more views the similarity-matrix ops.
const unavailable = await useNodeWebGPU();
if (unavailable) console.warn(`skipping the NT-Xent WebGPU tests: ${unavailable}`);

afterAll(async () => {
  installKernels('webgpu', { kernels: 'stock' });
  await tf.setBackend('cpu');
});

const TOLERANCE = 1e-4;

const SIZES = [
  { n: 3, d: 5, tau: 0.5 },
  // 2N = 74 rows (two 64-row chunks), D = 70 (two columns per thread in the backward pass)
  { n: 37, d: 70, tau: 0.1 },
];

describe.skipIf(unavailable !== null)(
  'NT-Xent on the fused two-view kernels vs the similarity-matrix ops',
  () => {
    it.each(SIZES)(
      'N=$n D=$d tau=$tau: the loss on the fused kernel matches the similarity-matrix ops to 1e-4 (value and gradients)',
      async ({ n, d, tau }) => {
        const a = tf.randomNormal([n, d], 0, 1, 'float32', 11);
        const b = tf.randomNormal([n, d], 0, 1, 'float32', 12);
        const loss = createNtxent({ tau });
        const lossOfViews = (x: tf.Tensor, y: tf.Tensor) =>
          loss.compute({ views: [x as tf.Tensor2D, y as tf.Tensor2D] });
        // the loss module takes the fused path
        await expectFusedMatchesStock(lossOfViews, a, b, TOLERANCE);
        tf.dispose([a, b]);
        loss.dispose();
      },
    );

    it('three views keep the similarity-matrix path (the fused kernel is two-view only) and give the same loss', async () => {
      installKernels('webgpu');
      const views = [21, 22, 23].map((seed) => tf.randomNormal([4, 6], 0, 1, 'float32', seed) as tf.Tensor2D);
      const loss = createNtxent({ tau: 0.5 });
      const profile = await tf.profile(() => loss.compute({ views }));
      expect(profile.kernels.map((k) => k.name)).not.toContain(FUSED_NTXENT_KERNEL);
      installKernels('webgpu', { kernels: 'stock' });
      const stock = loss.compute({ views });
      expect(await relativeError(profile.result as tf.Tensor, stock)).toBe(0);
      tf.dispose([...views, profile.result as tf.Tensor, stock]);
      loss.dispose();
    });
  },
);
