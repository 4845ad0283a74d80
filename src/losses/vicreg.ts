import * as tf from '@tensorflow/tfjs';
import { checkViews } from './views';
import type { LossModule } from './types';

export interface VicregParams extends Record<string, number> {
  /** weight of the invariance term */
  sim: number;
  /** weight of the variance term */
  var: number;
  /** weight of the covariance term */
  cov: number;
}

/** Added to the unbiased variance before the square root, as in the reference implementation. */
const VARIANCE_EPS = 1e-4;

/**
 * The variance and covariance regularisers of one view z [N, D]:
 *   std_k = sqrt(unbiased var_k + 1e-4);  variance = mean_k relu(1 - std_k)
 *   C = (z - mean)^T (z - mean) / (N - 1);  covariance = sum_{k != l} C_kl^2 / D
 */
function varianceAndCovariance(z: tf.Tensor2D): { variance: tf.Scalar; covariance: tf.Scalar } {
  const [n, d] = z.shape;
  const centered = tf.sub(z, tf.mean(z, 0, true)) as tf.Tensor2D;
  const covarianceMatrix = tf.div(tf.matMul(centered, centered, true, false), n - 1) as tf.Tensor2D;
  const identity = tf.eye(d);
  // The diagonal of C is the unbiased column variance, so it is read off C instead of recomputed.
  const columnVariance = tf.sum(tf.mul(covarianceMatrix, identity), 1);
  const columnStd = tf.sqrt(tf.add(columnVariance, VARIANCE_EPS));
  const variance = tf.mean(tf.relu(tf.sub(1, columnStd))) as tf.Scalar;
  const covariance = tf.div(tf.sum(tf.square(tf.mul(covarianceMatrix, tf.sub(1, identity)))), d) as tf.Scalar;
  return { variance, covariance };
}

/**
 * VICReg (Bardes, Ponce & LeCun 2022, "VICReg: Variance-Invariance-Covariance Regularization").
 *
 *   inv = mean over N*D entries of (z1 - z2)^2
 *   var = ( mean_k relu(1 - std_k(z1)) + mean_k relu(1 - std_k(z2)) ) / 2,  std_k = sqrt(unbiased var_k + 1e-4)
 *   cov(z) = sum_{k != l} C_kl^2 / D,  C = (z - mean)^T (z - mean) / (N - 1)
 *   L = sim * inv + var_w * var + cov_w * ( cov(z1) + cov(z2) )
 *
 * Exactly two views, no normalisation of z; needs N >= 2 for the unbiased variance.
 * Example: `createLoss('vicreg', { sim: 25, var: 25, cov: 1 }).compute({ views: [z1, z2] })`.
 */
export function createVicreg(params: VicregParams): LossModule {
  const { sim: simWeight, var: varianceWeight, cov: covarianceWeight } = params;
  return {
    id: 'vicreg',
    trainableVariables: [],
    compute({ views }) {
      checkViews('vicreg', views, 2, 2);
      const n = views[0].shape[0];
      if (n < 2) {
        throw new Error(
          `loss 'vicreg' needs at least 2 instances per batch for the unbiased variance, got ${n}; increase the batch size`,
        );
      }
      return tf.tidy(() => {
        const invariance = tf.mean(tf.squaredDifference(views[0], views[1]));
        const first = varianceAndCovariance(views[0]);
        const second = varianceAndCovariance(views[1]);
        const variance = tf.div(tf.add(first.variance, second.variance), 2);
        const covariance = tf.add(first.covariance, second.covariance);
        return tf.addN([
          tf.mul(simWeight, invariance),
          tf.mul(varianceWeight, variance),
          tf.mul(covarianceWeight, covariance),
        ]) as tf.Scalar;
      });
    },
    dispose() {},
  };
}
