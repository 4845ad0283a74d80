import * as tf from '@tensorflow/tfjs';
import { checkViews, MASK_NEG, stackNormalized } from './common';
import type { LossDefinition } from './types';

// ---- Helpers shared by the stateless contrastive losses (ntxent, dcl, dclw, supcon, mv_infonce,
// ---- mv_dhel, align_uniform). Candidates for common.ts.

/**
 * V, N and D of views that checkViews has accepted (same [N, D] shape); throws when N < minInstances,
 * for losses whose negatives or pairs would be an empty set.
 */
export function viewShape(id: string, views: tf.Tensor2D[], minInstances = 1): { V: number; N: number; D: number } {
  const [N, D] = views[0].shape;
  if (N < minInstances) {
    throw new Error(`loss '${id}' needs at least ${minInstances} instances per batch, got ${N}; increase the batch size`);
  }
  return { V: views.length, N, D };
}

/** The views normalised and stacked as [V, N, D]: units[v][i] = norm(views[v]_i). */
export function stackUnitViews(views: tf.Tensor2D[]): tf.Tensor3D {
  return tf.tidy(() => {
    const [N, D] = views[0].shape;
    // stackNormalized is view-major (row r = instance r mod N of view floor(r / N)).
    return tf.reshape(stackNormalized(views), [views.length, N, D]) as tf.Tensor3D;
  });
}

/** The n x n identity as a float32 mask, built on the device (no n*n host upload per step). */
export function identityMask(n: number): tf.Tensor2D {
  return tf.tidy(() => tf.oneHot(tf.range(0, n, 1, 'int32'), n, 1, 0, 'float32') as tf.Tensor2D);
}

/** x + MASK_NEG where mask = 1 (broadcasting): removes those entries from any log-sum-exp. */
export function maskOut<T extends tf.Tensor>(x: T, mask: tf.Tensor): T {
  return tf.tidy(() => tf.add(x, tf.mul(mask, MASK_NEG)) as T);
}

/**
 * Per-instance cross-view cosines: gram[i, l, m] = units[l][i] . units[m][i], shape [N, V, V].
 * Costs N V^2 D, far less than the full (VN)^2 similarity matrix.
 */
export function instanceGram(units: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const byInstance = tf.transpose(units, [1, 0, 2]); // [N, V, D]
    return tf.matMul(byInstance, byInstance, false, true) as tf.Tensor3D;
  });
}

/**
 * Makes the output a constant for autodiff: same value, zero gradient (tfjs has no stopGradient op).
 */
export const stopGradient = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => ({
  value: tf.clone(inputs[0] as tf.Tensor),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as <T extends tf.Tensor>(x: T) => T;

// ---- NT-Xent ----

export interface NtxentParams extends Record<string, number> {
  tau: number;
}

/**
 * NT-Xent / InfoNCE (SimCLR; Chen et al. 2020, "A Simple Framework for Contrastive Learning of
 * Visual Representations"). For V = 2, with Z the stacked 2N x D matrix of unit rows and p(i) the
 * row of i's other view:
 *
 *   l_i = -Z_i.Z_p(i) / tau + LSE_{k != i}( Z_i.Z_k / tau ),   L = (1 / 2N) sum_i l_i
 *
 * The positive stays in the denominator; only self-similarity is masked. For V > 2, L is the mean
 * of the two-view loss over the V(V-1)/2 unordered view pairs (the "aggregated pairwise" baseline).
 * Example: `createLoss('ntxent', { tau: 0.5 }).compute({ views: [z1, z2] })`.
 */
export const ntxent: LossDefinition<NtxentParams> = {
  id: 'ntxent',
  name: 'NT-Xent (SimCLR)',
  description: 'InfoNCE over the 2N stacked views, positive kept in the denominator; mean over view pairs for V > 2 (Chen et al. 2020).',
  minViews: 2,
  maxViews: Infinity,
  needsLabels: false,
  params: {
    tau: { default: 0.5, min: 0.01, max: 10, help: 'temperature: lower = sharper softmax, harder negatives' },
  },
  create({ tau }) {
    return {
      id: 'ntxent',
      trainableVariables: [],
      compute({ views }) {
        checkViews('ntxent', views, 2, Infinity);
        const { V, N, D } = viewShape('ntxent', views);
        return tf.tidy(() => {
          const units = stackUnitViews(views);
          const stacked = tf.reshape(units, [V * N, D]);
          const logits = tf.div(tf.matMul(stacked, stacked, false, true), tau);
          const withoutSelf = maskOut(logits, identityMask(V * N));
          // blockLse[a, i, b] = LSE over the instances k of view b of logit((a, i), (b, k)), self excluded.
          // The denominator of anchor (a, i) in the pair (a, b) is the LSE of its own-view and view-b blocks.
          const blockLse = tf.logSumExp(tf.reshape(withoutSelf, [V, N, V, N]), 3); // [V, N, V]
          const sameView = tf.reshape(tf.eye(V), [V, 1, V]);
          const ownViewLse = tf.sum(tf.mul(blockLse, sameView), 2, true); // [V, N, 1]
          const pairDenominator = tf.logSumExp(tf.stack([tf.broadcastTo(ownViewLse, [V, N, V]), blockLse]), 0);
          const positives = tf.div(tf.transpose(instanceGram(units), [1, 0, 2]), tau); // [V, N, V]
          // Each of the V(V-1)/2 pairs contributes 2N anchor terms (one per ordered (a, b), a != b).
          const anchorTerms = tf.mul(tf.sub(pairDenominator, positives), tf.sub(1, sameView));
          return tf.div(tf.sum(anchorTerms), V * (V - 1) * N) as tf.Scalar;
        });
      },
      dispose() {},
    };
  },
};
