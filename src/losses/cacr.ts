import * as tf from '@tensorflow/tfjs';
import { MASK_NEG, maskFrom, normalizeRows } from '../nn/rows';
import { checkViews } from './views';
import type { LossModule } from './types';

export interface CacrParams extends Record<string, number> {
  alpha: number;
  beta: number;
  tPos: number;
  tNeg: number;
}

/**
 * Attraction term L1. stackedByInstance is [N, V, D] (row i = the V normalised views of instance i).
 * For query view q of instance i, the other views l != q get w+_l = softmax_l(tPos * c(q, l)), so the
 * farthest positive pulls hardest; returns mean over (q, i) of sum_l w+_l c(q, l).
 */
function attraction(stackedByInstance: tf.Tensor3D, tPos: number): tf.Scalar {
  const viewCount = stackedByInstance.shape[1];
  // cost[i, q, l] = ||u_qi - u_li||^2, computed from the difference so zero rows get exactly 1 (not 2 - 2 cos).
  const cost = tf.sum(
    tf.square(tf.sub(tf.expandDims(stackedByInstance, 2), tf.expandDims(stackedByInstance, 1))),
    3,
  );
  const otherViews = maskFrom(viewCount, viewCount, (q, l) => q !== l);
  // softmax only runs on the last axis in tfjs, hence the [N, q, l] layout.
  const weights = tf.softmax(tf.add(tf.mul(cost, tPos), tf.mul(tf.sub(1, otherViews), MASK_NEG)));
  return tf.mean(tf.sum(tf.mul(weights, cost), 2)) as tf.Scalar;
}

/**
 * Repulsion of one view pair: anchors a [N, D] against the other instances' rows of b [N, D];
 * w-_j = softmax_{j != i}(-tNeg * c(a_i, b_j)) so the closest negatives count most. Returns R [N].
 */
function repulsion(
  anchors: tf.Tensor2D,
  others: tf.Tensor2D,
  tNeg: number,
  otherInstances: tf.Tensor2D,
): tf.Tensor1D {
  // ||a_i - b_j||^2 = |a_i|^2 + |b_j|^2 - 2 a_i.b_j (norms kept explicit: a zero row has |a_i|^2 = 0, not 1).
  const cost = tf.sub(
    tf.add(tf.sum(tf.square(anchors), 1, true), tf.transpose(tf.sum(tf.square(others), 1, true))),
    tf.mul(2, tf.matMul(anchors, others, false, true)),
  );
  const weights = tf.softmax(tf.add(tf.mul(cost, -tNeg), tf.mul(tf.sub(1, otherInstances), MASK_NEG)));
  return tf.sum(tf.mul(weights, cost), 1) as tf.Tensor1D;
}

/**
 * CACR, Contrastive Attraction and Contrastive Repulsion (Zheng et al. 2021, "Contrastive
 * Attraction and Contrastive Repulsion for Representation Learning").
 *
 *   c(u, v) = ||norm(u) - norm(v)||^2;  softmax weights are NOT detached (gradients flow through them)
 *   L1 = mean_{q, i} sum_{l != q} softmax_l( tPos * c(z_qi, z_li) ) c(z_qi, z_li)
 *   L2 = - mean_{a < b, i} sum_{j != i} softmax_j( -tNeg * c(z_ai, z_bj) ) c(z_ai, z_bj)
 *   L = alpha * L1 + beta * L2
 *
 * Any number of views V >= 2 (attraction over all other views of the instance, repulsion over
 * unordered view pairs); needs N >= 2 so that every anchor has a negative. Values can be negative.
 * Example: `createLoss('cacr', { alpha: 1, beta: 1, tPos: 1, tNeg: 0.9 }).compute({ views: [z1, z2, z3] })`.
 */
export function createCacr({ alpha, beta, tPos, tNeg }: CacrParams): LossModule {
  return {
    id: 'cacr',
    trainableVariables: [],
    compute({ views }) {
      checkViews('cacr', views, 2, Infinity);
      const n = views[0].shape[0];
      if (n < 2) {
        throw new Error(
          `loss 'cacr' needs at least 2 instances per batch so every anchor has a negative, got ${n}; increase the batch size`,
        );
      }
      return tf.tidy(() => {
        const normalized = views.map(normalizeRows);
        const attractionTerm = attraction(tf.stack(normalized, 1) as tf.Tensor3D, tPos);
        const otherInstances = maskFrom(n, n, (i, j) => i !== j);
        const perPair: tf.Tensor1D[] = [];
        for (let a = 0; a < views.length; a++) {
          for (let b = a + 1; b < views.length; b++)
            perPair.push(repulsion(normalized[a], normalized[b], tNeg, otherInstances));
        }
        const repulsionTerm = tf.neg(tf.mean(tf.concat(perPair)));
        return tf.add(tf.mul(alpha, attractionTerm), tf.mul(beta, repulsionTerm)) as tf.Scalar;
      });
    },
    dispose() {},
  };
}
