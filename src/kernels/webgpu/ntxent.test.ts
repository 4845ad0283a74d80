import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { createLoss } from '../../methods/registry';
import { registerWebGPUKernels, unregisterWebGPUKernels } from './index';
import { FUSED_NTXENT_GRAD_KERNEL, FUSED_NTXENT_KERNEL } from './ntxent';
import { relativeError, useNodeWebGPU } from './testing';

const unavailable = await useNodeWebGPU();
if (unavailable) console.warn(`skipping the fused NT-Xent WebGPU tests: ${unavailable}`);

afterAll(async () => {
  unregisterWebGPUKernels();
  await tf.setBackend('cpu');
});

const TOLERANCE = 1e-4;

function unit(z: tf.Tensor): tf.Tensor2D {
  return tf.div(z, tf.norm(z, 2, 1, true)) as tf.Tensor2D;
}

/** The fused kernel's stats [2, 2N] = [loss_r; lse_r] for two views. */
function fusedStats(a: tf.Tensor, b: tf.Tensor, tau: number): tf.Tensor2D {
  const z = tf.concat([unit(a), unit(b)]);
  return tf
    .engine()
    .runKernel(FUSED_NTXENT_KERNEL, { z }, { tau } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

/** The same stats from stock ops (full similarity matrix, mask, logSumExp), as the reference. */
function stockStats(a: tf.Tensor, b: tf.Tensor, tau: number): tf.Tensor2D {
  const n = a.shape[0];
  const z = tf.concat([unit(a), unit(b)]);
  const logits = tf.div(tf.matMul(z, z, false, true), tau);
  const lse = tf.logSumExp(tf.add(logits, tf.mul(tf.eye(2 * n), -1e9)), 1);
  const partner = tf.concat([tf.range(n, 2 * n, 1, 'int32'), tf.range(0, n, 1, 'int32')]);
  const positive = tf.div(tf.sum(tf.mul(z, tf.gather(z, partner)), 1), tau);
  return tf.stack([tf.sub(lse, positive), lse]) as tf.Tensor2D;
}

const SIZES = [
  { n: 3, d: 5, tau: 0.5 },
  // 2N = 74 rows (two 64-row chunks), D = 70 (two columns per thread in the backward pass)
  { n: 37, d: 70, tau: 0.1 },
];

describe.skipIf(unavailable !== null)('fused two-view NT-Xent kernel vs stock tfjs ops', () => {
  it.each(SIZES)(
    'N=$n D=$d tau=$tau: createLoss(ntxent) on the fused kernel matches the stock ops to 1e-4 (value and gradients)',
    async ({ n, d, tau }) => {
      const a = tf.randomNormal([n, d], 0, 1, 'float32', 11);
      const b = tf.randomNormal([n, d], 0, 1, 'float32', 12);
      const loss = createLoss('ntxent', { tau });
      const lossOfViews = (x: tf.Tensor, y: tf.Tensor) =>
        loss.compute({ views: [x as tf.Tensor2D, y as tf.Tensor2D] });
      unregisterWebGPUKernels();
      const stock = tf.valueAndGrads(lossOfViews)([a, b]);
      registerWebGPUKernels();
      const before = tf.memory().numTensors;
      const profile = await tf.profile(() => {
        const fused = tf.valueAndGrads(lossOfViews)([a, b]);
        return [fused.value, ...fused.grads];
      });
      const [value, ...grads] = profile.result as tf.Tensor[];
      // the loss module took the fused path: its forward and backward kernels ran, the R x R matMul did not
      const kernelNames = profile.kernels.map((k) => k.name);
      expect(kernelNames).toContain(FUSED_NTXENT_KERNEL);
      expect(kernelNames).toContain(FUSED_NTXENT_GRAD_KERNEL);
      expect(kernelNames).not.toContain('BatchMatMul');
      expect(tf.memory().numTensors - before).toBe(3); // value + two gradients, nothing else survives
      expect(await relativeError(value, stock.value)).toBeLessThan(TOLERANCE);
      for (const view of [0, 1]) {
        expect(await relativeError(grads[view], stock.grads[view])).toBeLessThan(TOLERANCE);
        // gradients of a mean over 2N anchors are small; compare relative to their own scale too
        const scale = (await stock.grads[view].abs().max().data())[0];
        expect(scale).toBeGreaterThan(0);
        expect(
          await relativeError(tf.div(grads[view], scale), tf.div(stock.grads[view], scale)),
        ).toBeLessThan(TOLERANCE);
      }
      tf.dispose([a, b, stock.value, value, ...stock.grads, ...grads]);
      loss.dispose();
    },
  );

  it('three views keep the stock path (the fused kernel is two-view only) and give the same loss', async () => {
    registerWebGPUKernels();
    const views = [21, 22, 23].map((seed) => tf.randomNormal([4, 6], 0, 1, 'float32', seed) as tf.Tensor2D);
    const loss = createLoss('ntxent', { tau: 0.5 });
    const profile = await tf.profile(() => loss.compute({ views }));
    expect(profile.kernels.map((k) => k.name)).not.toContain(FUSED_NTXENT_KERNEL);
    unregisterWebGPUKernels();
    const stock = loss.compute({ views });
    expect(await relativeError(profile.result as tf.Tensor, stock)).toBe(0);
    tf.dispose([...views, profile.result as tf.Tensor, stock]);
  });

  it('backward handles arbitrary upstream gradients on both outputs (loss_r and lse_r)', async () => {
    registerWebGPUKernels();
    const { n, d, tau } = SIZES[1];
    const a = tf.randomNormal([n, d], 0, 1, 'float32', 13);
    const b = tf.randomNormal([n, d], 0, 1, 'float32', 14);
    const weights = tf.randomNormal([2, 2 * n], 0, 1, 'float32', 15);
    const weighted =
      (stats: (x: tf.Tensor, y: tf.Tensor, t: number) => tf.Tensor2D) => (x: tf.Tensor, y: tf.Tensor) =>
        tf.sum(tf.mul(stats(x, y, tau), weights)) as tf.Scalar;
    const fused = tf.valueAndGrads(weighted(fusedStats))([a, b]);
    const stock = tf.valueAndGrads(weighted(stockStats))([a, b]);
    expect(await relativeError(fused.value, stock.value)).toBeLessThan(TOLERANCE);
    for (const view of [0, 1])
      expect(await relativeError(fused.grads[view], stock.grads[view])).toBeLessThan(TOLERANCE);
    tf.dispose([a, b, weights, fused.value, stock.value, ...fused.grads, ...stock.grads]);
  });

  it('rejects a matrix that is not two stacked views', () => {
    registerWebGPUKernels();
    const odd = tf.ones([5, 4]);
    expect(() =>
      tf.engine().runKernel(FUSED_NTXENT_KERNEL, { z: odd }, { tau: 0.5 } as unknown as tf.NamedAttrMap),
    ).toThrow(/\[2N, D\]/);
    odd.dispose();
  });
});
