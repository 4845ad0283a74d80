import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { installKernels } from '../install';
import { FUSED_NTXENT_GRAD_KERNEL, FUSED_NTXENT_KERNEL } from '../ops';
import { relativeError } from '../webgpu/testing';

/**
 * Runs `lossOfViews` on the two views with TF.js's stock WebGPU kernels, then with the project's, and expects the
 * second run to take the fused forward and backward kernels (no R x R matMul), to leave only the value and the two
 * gradients alive, and to match the stock value and gradients to `tolerance` (relative, and relative to the
 * gradients' own scale). Disposes what it made, not the views.
 */
export async function expectFusedMatchesStock(
  lossOfViews: (a: tf.Tensor, b: tf.Tensor) => tf.Scalar,
  a: tf.Tensor,
  b: tf.Tensor,
  tolerance: number,
): Promise<void> {
  installKernels('webgpu', { kernels: 'stock' });
  const stock = tf.valueAndGrads(lossOfViews)([a, b]);
  installKernels('webgpu');
  const before = tf.memory().numTensors;
  const profile = await tf.profile(() => {
    const fused = tf.valueAndGrads(lossOfViews)([a, b]);
    return [fused.value, ...fused.grads];
  });
  const [value, ...grads] = profile.result as tf.Tensor[];
  const kernelNames = profile.kernels.map((k) => k.name);
  expect(kernelNames).toContain(FUSED_NTXENT_KERNEL);
  expect(kernelNames).toContain(FUSED_NTXENT_GRAD_KERNEL);
  expect(kernelNames).not.toContain('BatchMatMul');
  expect(tf.memory().numTensors - before).toBe(3); // value + two gradients, nothing else survives
  expect(await relativeError(value, stock.value)).toBeLessThan(tolerance);
  for (const view of [0, 1]) {
    expect(await relativeError(grads[view], stock.grads[view])).toBeLessThan(tolerance);
    // gradients of a mean over 2N anchors are small; compare relative to their own scale too
    const scale = (await stock.grads[view].abs().max().data())[0];
    expect(scale).toBeGreaterThan(0);
    expect(await relativeError(tf.div(grads[view], scale), tf.div(stock.grads[view], scale))).toBeLessThan(
      tolerance,
    );
  }
  tf.dispose([stock.value, value, ...stock.grads, ...grads]);
}
