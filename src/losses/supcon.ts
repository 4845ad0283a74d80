import * as tf from '@tensorflow/tfjs';
import { identityMask, maskOut, stackNormalized } from '../nn/rows';
import { checkViews, viewShape } from './views';
import type { LossModule } from './types';

export interface SupconParams extends Record<string, number> {
  tau: number;
}

/**
 * SupCon, supervised contrastive loss L_out (Khosla et al. 2020, "Supervised Contrastive Learning").
 * Z stacks the unit rows of all V views (VN rows), labels repeated per view; A(i) = every row but i,
 * P(i) = the rows of A(i) with i's label (including i's other views):
 *
 *   l_i = -(1 / |P(i)|) sum_{p in P(i)} ( Z_i.Z_p / tau - LSE_{a in A(i)}( Z_i.Z_a / tau ) )
 *   L = mean over the anchors with |P(i)| > 0
 *
 * No extra tau / base_tau factor (unlike the authors' code). Labels are required.
 * Example: `createLoss('supcon', { tau: 0.1 }).compute({ views: [z1, z2], labels })`.
 */
export function createSupcon({ tau }: SupconParams): LossModule {
  return {
    id: 'supcon',
    trainableVariables: [],
    compute({ views, labels }) {
      checkViews('supcon', views, 2, Infinity);
      const { V, N } = viewShape('supcon', views);
      if (!labels) {
        throw new Error(
          "loss 'supcon' needs class labels: pass labels (int32 [N]) in the loss inputs, or pick a self-supervised loss such as 'ntxent'",
        );
      }
      if (labels.rank !== 1 || labels.shape[0] !== N) {
        throw new Error(
          `loss 'supcon': labels must have shape [${N}] (one per instance), got [${labels.shape.join(', ')}]`,
        );
      }
      return tf.tidy(() => {
        const stacked = stackNormalized(views);
        const self = identityMask(V * N);
        const logits = maskOut(tf.div(tf.matMul(stacked, stacked, false, true), tau), self);
        const logProbabilities = tf.sub(logits, tf.logSumExp(logits, 1, true));
        const rowLabels = tf.tile(labels, [V]);
        const sameLabel = tf.cast(
          tf.equal(tf.expandDims(rowLabels, 1), tf.expandDims(rowLabels, 0)),
          'float32',
        );
        const positives = tf.sub(sameLabel, self);
        const positiveCounts = tf.sum(positives, 1);
        // The masked diagonal holds ~MASK_NEG log-probabilities but always meets a 0 in `positives`.
        const meanPositiveLogProbability = tf.div(
          tf.sum(tf.mul(positives, logProbabilities), 1),
          tf.maximum(positiveCounts, 1),
        );
        const usedAnchors = tf.cast(tf.greater(positiveCounts, 0), 'float32');
        return tf.div(
          tf.neg(tf.sum(tf.mul(meanPositiveLogProbability, usedAnchors))),
          tf.maximum(tf.sum(usedAnchors), 1),
        ) as tf.Scalar;
      });
    },
    dispose() {},
  };
}
