import * as tf from '@tensorflow/tfjs';
import { identityMask, maskOut, stackUnitViews } from '../nn/rows';
import { checkViews, viewShape } from './views';
import type { LossModule } from './types';

export interface DclParams extends Record<string, number> {
  tau: number;
}

/**
 * The decoupled contrastive loss shared by dcl and dclw (V = 2, N >= 2). With Z the stacked 2N x D
 * unit rows and p(i) the row of i's other view:
 *
 *   l_i = -w_i * Z_i.Z_p(i) / tau + LSE_{k not in {i, p(i)}}( Z_i.Z_k / tau ),   L = mean over the 2N anchors
 *
 * `positiveWeights` maps the N positive cosines to the N weights w (used for both views of an
 * instance); without it w = 1.
 */
export function decoupledContrastiveLoss(
  id: 'dcl' | 'dclw',
  views: tf.Tensor2D[],
  tau: number,
  positiveWeights?: (positiveCosines: tf.Tensor1D) => tf.Tensor1D,
): tf.Scalar {
  checkViews(id, views, 2, 2);
  // With N = 1 the denominator would be empty: there are no negatives at all.
  const { N, D } = viewShape(id, views, 2);
  return tf.tidy(() => {
    const units = stackUnitViews(views);
    const stacked = tf.reshape(units, [2 * N, D]);
    const logits = tf.reshape(tf.div(tf.matMul(stacked, stacked, false, true), tau), [2, N, 2, N]);
    // Mask both rows of the anchor's own instance (itself and its positive) in every view block.
    const negativesOnly = maskOut(logits, tf.reshape(identityMask(N), [1, N, 1, N]));
    const negativeLse = tf.logSumExp(tf.reshape(negativesOnly, [2 * N, 2 * N]), 1); // [2N]
    const positiveCosines = tf.sum(tf.mul(units.gather(0), units.gather(1)), 1) as tf.Tensor1D; // [N]
    const weights = positiveWeights ? positiveWeights(positiveCosines) : tf.onesLike(positiveCosines);
    // Both anchors of instance i share the same weighted positive term.
    const weightedPositives = tf.mul(2 / tau, tf.sum(tf.mul(weights, positiveCosines)));
    return tf.div(tf.sub(tf.sum(negativeLse), weightedPositives), 2 * N) as tf.Scalar;
  });
}

/**
 * DCL, Decoupled Contrastive Learning (Yeh et al. 2022, ECCV). NT-Xent with the positive removed
 * from the denominator (V = 2):
 *
 *   l_i = -Z_i.Z_p(i) / tau + LSE_{k not in {i, p(i)}}( Z_i.Z_k / tau ),   L = mean over the 2N anchors
 *
 * Values can be negative. Example: `createLoss('dcl', { tau: 0.1 }).compute({ views: [z1, z2] })`.
 */
export function createDcl({ tau }: DclParams): LossModule {
  return {
    id: 'dcl',
    trainableVariables: [],
    compute({ views }) {
      return decoupledContrastiveLoss('dcl', views, tau);
    },
    dispose() {},
  };
}
