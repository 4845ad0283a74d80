import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import {
  FUSED_NTXENT_KERNEL,
  fusedNtxentGradConfig,
  fusedNtxentTwoView,
  fusedNtxentTwoViewGradReference,
  fusedNtxentTwoViewReference,
  kernelRegistered,
  registerOpGradients,
} from './ops';
import { relativeError } from './webgpu/testing';

// The references of ops.ts that no kernel test covers, on the cpu backend of the unit tests (the kernels are
// tested against the references in their folders).

/** Two views of n seeded rows of d values, as unit rows stacked [2n, d]. */
function stackedUnitRows(n: number, d: number): tf.Tensor2D {
  const z = tf.randomNormal([2 * n, d], 0, 1, 'float32', 7);
  return tf.div(z, tf.norm(z, 2, 1, true)) as tf.Tensor2D;
}

describe('the fused two-view NT-Xent reference', () => {
  it('is what fusedNtxentTwoView gives where no kernel is registered: [loss_r; lse_r] of the definition', async () => {
    const z = stackedUnitRows(3, 4);
    expect(kernelRegistered(FUSED_NTXENT_KERNEL)).toBe(false);
    const stats = fusedNtxentTwoView(z, 0.5);
    expect(stats.shape).toEqual([2, 6]);
    // row 2 of 6: its positive is row 5; the LSE runs over every row but itself
    const rows = (await z.array()) as number[][];
    const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);
    const logits = rows.map((row, k) => (k === 2 ? -Infinity : dot(rows[2], row) / 0.5));
    const max = Math.max(...logits);
    const lse = max + Math.log(logits.reduce((s, l) => s + Math.exp(l - max), 0));
    const values = (await stats.array()) as number[][];
    expect(values[1][2]).toBeCloseTo(lse, 5);
    expect(values[0][2]).toBeCloseTo(lse - dot(rows[2], rows[5]) / 0.5, 5);
    tf.dispose([z, stats]);
  });

  it('its gradient reference equals the tape gradient of the forward reference, for any upstream gradient', async () => {
    const tau = 0.2;
    const z = stackedUnitRows(5, 6);
    const dstats = tf.randomNormal([2, 10], 0, 1, 'float32', 8) as tf.Tensor2D;
    const taped = tf.grad((x: tf.Tensor) =>
      tf.sum(tf.mul(fusedNtxentTwoViewReference(x as tf.Tensor2D, tau), dstats)),
    )(z);
    const stats = fusedNtxentTwoViewReference(z, tau);
    const explicit = fusedNtxentTwoViewGradReference(z, stats, dstats, tau);
    expect(await relativeError(explicit, taped)).toBeLessThan(1e-5);
    tf.dispose([z, dstats, taped, stats, explicit]);
  });

  it('registerOpGradients registers the gradient of the forward kernel, once', () => {
    registerOpGradients();
    expect(tf.getGradient(FUSED_NTXENT_KERNEL)).toBe(fusedNtxentGradConfig);
    registerOpGradients();
    expect(tf.getGradient(FUSED_NTXENT_KERNEL)).toBe(fusedNtxentGradConfig);
  });
});
