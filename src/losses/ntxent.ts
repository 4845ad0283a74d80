import * as tf from '@tensorflow/tfjs';
import { FUSED_NTXENT_KERNEL, fusedNtxentTwoView, kernelRegistered } from '../kernels/ops';
import { identityMask, instanceGram, maskOut, stackNormalized, stackUnitViews } from '../nn/rows';
import { checkViews, viewShape } from './views';
import type { LossModule } from './types';

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
export function createNtxent({ tau }: NtxentParams): LossModule {
  return {
    id: 'ntxent',
    trainableVariables: [],
    compute({ views }) {
      checkViews('ntxent', views, 2, Infinity);
      const { V, N, D } = viewShape('ntxent', views);
      // two views where the backend has the fused kernel (kernels/ops.ts: FUSED_NTXENT_KERNEL, its own
      // gradient): [l_i; LSE_i] per anchor without the R x R similarity matrix
      if (V === 2 && kernelRegistered(FUSED_NTXENT_KERNEL)) {
        return tf.tidy(() => {
          const stats = fusedNtxentTwoView(stackNormalized(views), tau);
          return tf.mean(tf.slice(stats, [0, 0], [1, -1])) as tf.Scalar; // row 0 = l_i
        });
      }
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
}
