import * as tf from '@tensorflow/tfjs';
import { identityMask, MASK_NEG, stackNormalized } from '../nn/rows';
import { checkViews, viewShape } from './views';

/**
 * The loss of one MCL stage (Zhang et al. 2024, "Learning the Unlearned", feature-aware negative sampling):
 * InfoNCE over the 2N stacked unit rows Z of two views whose negatives are only the rows of the anchor's own
 * group g (the cluster it was assigned to in the preceding stages). With p(r) the row of r's other view,
 *
 *   Neg(r) = { j : j != r, j != p(r), g_j = g_r },
 *   l_r = -Z_r.Z_p(r) / tau + log( exp(Z_r.Z_p(r) / tau) + sum_{j in Neg(r)} exp(Z_r.Z_j / tau) ),
 *   L = (1 / 2N) sum_r l_r.
 *
 * groups = null (stage 1, no clustering yet) puts every row in one group: NT-Xent with the positive in the
 * denominator. An anchor without negatives contributes l_r = 0. `groups` is int32 [N], one id per instance.
 */
export function mclStageLoss(views: tf.Tensor2D[], groups: tf.Tensor1D | null, tau: number): tf.Scalar {
  checkViews('mcl', views, 2, 2);
  const { N } = viewShape('mcl', views);
  if (groups && (groups.rank !== 1 || groups.shape[0] !== N)) {
    throw new Error(`loss 'mcl': groups must have shape [${N}] (one per instance), got [${groups.shape}]`);
  }
  return tf.tidy(() => {
    const stacked = stackNormalized(views);
    const logits = tf.div(tf.matMul(stacked, stacked, false, true), tau);
    const self = identityMask(2 * N);
    // the positive of row r is row (r + N) mod 2N
    const positive = tf.concat(
      [tf.concat([tf.zeros([N, N]), tf.eye(N)], 1), tf.concat([tf.eye(N), tf.zeros([N, N])], 1)],
      0,
    );
    let keep: tf.Tensor = tf.sub(1, self);
    if (groups) {
      const rowGroups = tf.concat([groups, groups]);
      const same = tf.cast(tf.equal(tf.expandDims(rowGroups, 1), tf.expandDims(rowGroups, 0)), 'float32');
      keep = tf.mul(tf.maximum(same, positive), keep);
    }
    const masked = tf.add(logits, tf.mul(tf.sub(1, keep), MASK_NEG));
    const positives = tf.sum(tf.mul(logits, positive), 1);
    return tf.mean(tf.sub(tf.logSumExp(masked, 1), positives)) as tf.Scalar;
  });
}
