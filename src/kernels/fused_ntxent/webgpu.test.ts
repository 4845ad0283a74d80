import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { installKernels } from '../install';
import { FUSED_NTXENT_KERNEL, fusedNtxentTwoView, fusedNtxentTwoViewReference } from '../ops';
import { relativeError, useNodeWebGPU } from '../webgpu/testing';
import { expectFusedMatchesStock } from './testing';

const unavailable = await useNodeWebGPU();
if (unavailable) console.warn(`skipping the fused NT-Xent WebGPU tests: ${unavailable}`);

afterAll(async () => {
  installKernels('webgpu', { kernels: 'stock' });
  await tf.setBackend('cpu');
});

const TOLERANCE = 1e-4;

function unit(z: tf.Tensor): tf.Tensor2D {
  return tf.div(z, tf.norm(z, 2, 1, true)) as tf.Tensor2D;
}

/** The stats [2, 2N] = [loss_r; lse_r] of two views: the fused kernel where it is registered, else the reference. */
function stats(a: tf.Tensor, b: tf.Tensor, tau: number): tf.Tensor2D {
  return fusedNtxentTwoView(tf.concat([unit(a), unit(b)]), tau);
}

/** The same stats from the reference (full similarity matrix, mask, logSumExp), registered or not. */
function referenceStats(a: tf.Tensor, b: tf.Tensor, tau: number): tf.Tensor2D {
  return fusedNtxentTwoViewReference(tf.concat([unit(a), unit(b)]), tau);
}

/** The two-view NT-Xent loss (the mean of loss_r) of two views. */
function lossOfViews(tau: number) {
  return (a: tf.Tensor, b: tf.Tensor) => tf.mean(tf.slice(stats(a, b, tau), [0, 0], [1, -1])) as tf.Scalar;
}

const SIZES = [
  { n: 3, d: 5, tau: 0.5 },
  // 2N = 74 rows (two 64-row chunks), D = 70 (two columns per thread in the backward pass)
  { n: 37, d: 70, tau: 0.1 },
];

describe.skipIf(unavailable !== null)('fused two-view NT-Xent kernel vs its reference in tfjs ops', () => {
  it.each(SIZES)(
    'N=$n D=$d tau=$tau: the loss on the fused kernels matches the reference to 1e-4 (value and gradients)',
    async ({ n, d, tau }) => {
      const a = tf.randomNormal([n, d], 0, 1, 'float32', 11);
      const b = tf.randomNormal([n, d], 0, 1, 'float32', 12);
      await expectFusedMatchesStock(lossOfViews(tau), a, b, TOLERANCE);
      tf.dispose([a, b]);
    },
  );

  it('backward handles arbitrary upstream gradients on both outputs (loss_r and lse_r)', async () => {
    installKernels('webgpu');
    const { n, d, tau } = SIZES[1];
    const a = tf.randomNormal([n, d], 0, 1, 'float32', 13);
    const b = tf.randomNormal([n, d], 0, 1, 'float32', 14);
    const weights = tf.randomNormal([2, 2 * n], 0, 1, 'float32', 15);
    const weighted =
      (stats: (x: tf.Tensor, y: tf.Tensor, t: number) => tf.Tensor2D) => (x: tf.Tensor, y: tf.Tensor) =>
        tf.sum(tf.mul(stats(x, y, tau), weights)) as tf.Scalar;
    const fused = tf.valueAndGrads(weighted(stats))([a, b]);
    const stock = tf.valueAndGrads(weighted(referenceStats))([a, b]);
    expect(await relativeError(fused.value, stock.value)).toBeLessThan(TOLERANCE);
    for (const view of [0, 1])
      expect(await relativeError(fused.grads[view], stock.grads[view])).toBeLessThan(TOLERANCE);
    tf.dispose([a, b, weights, fused.value, stock.value, ...fused.grads, ...stock.grads]);
  });

  it('rejects a matrix that is not two stacked views', () => {
    installKernels('webgpu');
    const odd = tf.ones([5, 4]);
    expect(() =>
      tf.engine().runKernel(FUSED_NTXENT_KERNEL, { z: odd }, { tau: 0.5 } as unknown as tf.NamedAttrMap),
    ).toThrow(/\[2N, D\]/);
    odd.dispose();
  });
});
