import * as tf from '@tensorflow/tfjs';
import { identityMask, maskOut, normalizeRows } from '../nn/rows';
import { checkViews, viewShape } from './views';
import type { LossModule } from './types';

export interface AlignUniformParams extends Record<string, number> {
  alpha: number;
  t: number;
  lambda: number;
}

/**
 * uniformity(x) = log( mean_{i < j} exp(-t ||x_i - x_j||^2) ) for the rows of x (N >= 2). The
 * off-diagonal of the N x N matrix holds every unordered pair twice, so its mean is the same.
 */
function uniformity(x: tf.Tensor2D, t: number): tf.Scalar {
  return tf.tidy(() => {
    const N = x.shape[0];
    const squaredNorms = tf.sum(tf.square(x), 1, true); // 1 for unit rows, 0 for a zero row
    const squaredDistances = tf.sub(
      tf.add(squaredNorms, tf.transpose(squaredNorms)),
      tf.mul(2, tf.matMul(x, x, false, true)),
    );
    const logits = maskOut(tf.mul(-t, squaredDistances), identityMask(N));
    return tf.sub(tf.logSumExp(logits), Math.log(N * (N - 1))) as tf.Scalar;
  });
}

/**
 * Alignment + uniformity (Wang & Isola 2020, "Understanding Contrastive Representation Learning
 * through Alignment and Uniformity on the Hypersphere"), used as a training loss. With
 * a = norm(views[0]), b = norm(views[1]):
 *
 *   align = mean_i ||a_i - b_i||^alpha
 *   unif(x) = log( mean_{i < j} exp(-t ||x_i - x_j||^2) )
 *   L = align + lambda * ( unif(a) + unif(b) ) / 2
 *
 * ||a_i - b_i||^alpha is evaluated as max(||a_i - b_i||^2, 1e-12)^(alpha / 2) so its gradient stays
 * finite for identical views when alpha < 2 (the clamp shifts the value by at most 1e-6^alpha).
 * Example: `createLoss('align_uniform', { alpha: 2, t: 2, lambda: 1 }).compute({ views: [z1, z2] })`.
 */
export function createAlignUniform({ alpha, t, lambda }: AlignUniformParams): LossModule {
  return {
    id: 'align_uniform',
    trainableVariables: [],
    compute({ views }) {
      checkViews('align_uniform', views, 2, 2);
      // Uniformity averages over pairs of instances: N = 1 has none.
      viewShape('align_uniform', views, 2);
      return tf.tidy(() => {
        const first = normalizeRows(views[0]);
        const second = normalizeRows(views[1]);
        const squaredGaps = tf.sum(tf.square(tf.sub(first, second)), 1);
        const alignment = tf.mean(tf.pow(tf.maximum(squaredGaps, 1e-12), alpha / 2));
        const meanUniformity = tf.div(tf.add(uniformity(first, t), uniformity(second, t)), 2);
        return tf.add(alignment, tf.mul(lambda, meanUniformity)) as tf.Scalar;
      });
    },
    dispose() {},
  };
}
