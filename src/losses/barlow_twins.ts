import * as tf from '@tensorflow/tfjs';
import { checkViews } from './views';
import type { LossModule } from './types';

export interface BarlowTwinsParams extends Record<string, number> {
  lambda: number;
}

/** Added to the batch variance before the square root, as in the reference implementation. */
const VARIANCE_EPS = 1e-5;

/**
 * Standardises every column over the batch: zhat = (z - mean) / sqrt(var + 1e-5), with the
 * biased variance (divide by N).
 */
function standardizeColumns(z: tf.Tensor2D): tf.Tensor2D {
  const { mean, variance } = tf.moments(z, 0, true);
  return tf.div(tf.sub(z, mean), tf.sqrt(tf.add(variance, VARIANCE_EPS))) as tf.Tensor2D;
}

/**
 * Barlow Twins (Zbontar et al. 2021, "Barlow Twins: Self-Supervised Learning via Redundancy Reduction").
 *
 *   zhat_v = (z_v - mean) / sqrt(var + 1e-5)  per column, biased variance;  c = zhat_1^T zhat_2 / N  (D x D)
 *   L = sum_k (1 - c_kk)^2 + lambda * sum_{k != l} c_kl^2
 *
 * Exactly two views; the raw views are not row-normalised (the column standardisation takes its place).
 * Example: `createLoss('barlow_twins', { lambda: 0.0051 }).compute({ views: [z1, z2] })`.
 */
export function createBarlowTwins({ lambda }: BarlowTwinsParams): LossModule {
  return {
    id: 'barlow_twins',
    trainableVariables: [],
    compute({ views }) {
      checkViews('barlow_twins', views, 2, 2);
      return tf.tidy(() => {
        const [n, d] = views[0].shape;
        const crossCorrelation = tf.div(
          tf.matMul(standardizeColumns(views[0]), standardizeColumns(views[1]), true, false),
          n,
        ) as tf.Tensor2D;
        const identity = tf.eye(d);
        const onDiagonal = tf.sum(tf.square(tf.sub(identity, tf.mul(crossCorrelation, identity))));
        // (1 - I) * c keeps only the off-diagonal entries without a gather.
        const offDiagonal = tf.sum(tf.square(tf.mul(crossCorrelation, tf.sub(1, identity))));
        return tf.add(onDiagonal, tf.mul(lambda, offDiagonal)) as tf.Scalar;
      });
    },
    dispose() {},
  };
}
