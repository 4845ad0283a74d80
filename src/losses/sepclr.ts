import * as tf from '@tensorflow/tfjs';
import { normalizeRows } from '../nn/rows';

/**
 * The SepCLR objective (Louiset, Duchesnay, Grigis & Gori 2024, "Separating common from salient patterns with
 * Contrastive Representation Learning", ICLR 2024, arXiv 2402.11928), as a pure function of the two views'
 * common and salient embeddings and the background/target flag of every row. The method that owns the salient
 * encoder is src/methods/sepclr.ts; the equations are in docs/losses.md.
 */

export interface SepclrParams extends Record<string, number> {
  /** Kernel temperature tau of every alignment, uniformity and joint-entropy term. */
  tau: number;
  /** beta_s: weight of the salient InfoMax term. */
  betaSalient: number;
  /** beta_r: weight of the information-less constraint (background salient embeddings -> s' = 0). */
  betaReg: number;
  /** lambda: weight of the information-leakage term (the k-JEM joint-entropy estimate). */
  lambdaJem: number;
}

export interface SepclrInputs {
  /** Common-space embeddings of views 1 and 2 [N, D] (normalised here: C is a hypersphere). */
  c1: tf.Tensor2D;
  c2: tf.Tensor2D;
  /** Salient-space embeddings of views 1 and 2 [N, Ds] (Euclidean, not normalised). */
  s1: tf.Tensor2D;
  s2: tf.Tensor2D;
  /** 1 for a row of the target dataset, 0 for a background row, [N] float32 or int32. */
  target: tf.Tensor1D;
}

/** The loss and its parts (the parts are for diagnostics; only `total` is differentiated by the trainer). */
export interface SepclrParts {
  total: tf.Scalar;
  common: tf.Scalar;
  salient: tf.Scalar;
  reg: tf.Scalar;
  jem: tf.Scalar;
}

/**
 * [N, N] squared Euclidean distances ||x_i||^2 + ||x_j||^2 - 2 x_i.x_j. Not clamped at 0: a float32 value a hair
 * below 0 only gives exp(+tiny), and a clamp would zero the gradient of coinciding rows.
 */
function squaredDistances(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const sq = tf.sum(tf.square(x), 1, true);
    return tf.sub(tf.add(sq, tf.transpose(sq)), tf.mul(2, tf.matMul(x, x, false, true))) as tf.Tensor2D;
  });
}

/** mean over rows with weight w_i (sum w_i > 0 assumed by the caller) of ||x_i - y_i||^2 / (2 tau). */
function weightedAlign(x: tf.Tensor2D, y: tf.Tensor2D, weights: tf.Tensor1D, tau: number): tf.Scalar {
  return tf.tidy(() => {
    const sq = tf.sum(tf.square(tf.sub(x, y)), 1);
    const total = tf.sum(weights);
    // an empty group contributes 0 (the reference's mean of nothing would be NaN)
    return tf.div(tf.sum(tf.mul(sq, weights)), tf.mul(tf.maximum(total, 1), 2 * tau)) as tf.Scalar;
  });
}

/** log mean_{i<j} exp(-||x_i - x_j||^2 / (2 tau)), as a log-sum-exp over the strict upper triangle. */
function uniformity(x: tf.Tensor2D, tau: number): tf.Scalar {
  return tf.tidy(() => {
    const n = x.shape[0];
    const logits = tf.div(squaredDistances(x), -2 * tau);
    const upper = tf.linalg.bandPart(tf.ones([n, n]), 0, -1).sub(tf.eye(n));
    const masked = tf.add(logits, tf.mul(tf.sub(1, upper), -1e9));
    const pairs = (n * (n - 1)) / 2;
    return tf.sub(tf.logSumExp(tf.reshape(masked, [-1])), Math.log(pairs)) as tf.Scalar;
  });
}

/** mean_i log mean_j exp(-||c_i - c_j||^2 / (2 tau)) exp(-||s_i - s_j||^2 / (2 tau)), j over all rows (i included). */
function jointEntropy(c: tf.Tensor2D, s: tf.Tensor2D, tau: number): tf.Scalar {
  return tf.tidy(() => {
    const n = c.shape[0];
    const logits = tf.div(tf.add(squaredDistances(c), squaredDistances(s)), -2 * tau);
    return tf.sub(tf.mean(tf.logSumExp(logits, 1)), Math.log(n)) as tf.Scalar;
  });
}

/**
 * With c_v = norm(c_v), t_v = s_v with background rows replaced by s' = 0, T = target rows, B = background rows:
 *   align(x, y) over rows R = mean_{i in R} ||x_i - y_i||^2 / (2 tau)
 *   unif(x)               = log mean_{i<j} exp(-||x_i - x_j||^2 / (2 tau))
 *   jem(c, t)             = mean_i log mean_j exp(-(||c_i - c_j||^2 + ||t_i - t_j||^2) / (2 tau))
 *   L_common  = align_all(c1, c2) + unif(c1) + unif(c2)
 *   L_salient = align_T(s1, s2) + unif(t1) + unif(t2)
 *   L_reg     = (align_B(s1, 0) + align_B(s2, 0)) / 2
 *   L_jem     = (jem(c1, t1) + jem(c2, t2)) / 2
 *   L = L_common + beta_s L_salient + beta_r L_reg + lambda L_jem
 * (the reference code's cm_loss = align + 2 (unif(c1) + unif(c2)) / 2, likewise for the salient term.)
 */
export function sepclrLoss(inputs: SepclrInputs, params: SepclrParams): SepclrParts {
  const { tau, betaSalient, betaReg, lambdaJem } = params;
  const n = inputs.c1.shape[0];
  if (n < 2)
    throw new Error(`loss 'sepclr' needs at least 2 rows per batch, got ${n}; increase the batch size`);
  for (const [name, t] of Object.entries(inputs) as [string, tf.Tensor][]) {
    if (t.shape[0] !== n)
      throw new Error(
        `loss 'sepclr': ${name} has ${t.shape[0]} rows, c1 has ${n}; pass the same batch for every input`,
      );
  }
  return tf.tidy(() => {
    const isTarget = tf.cast(inputs.target, 'float32') as tf.Tensor1D;
    const isBackground = tf.sub(1, isTarget) as tf.Tensor1D;
    const c1 = normalizeRows(inputs.c1);
    const c2 = normalizeRows(inputs.c2);
    const keep = tf.expandDims(isTarget, 1);
    const t1 = tf.mul(inputs.s1, keep) as tf.Tensor2D;
    const t2 = tf.mul(inputs.s2, keep) as tf.Tensor2D;
    const common = tf.addN([
      weightedAlign(c1, c2, tf.onesLike(isTarget), tau),
      uniformity(c1, tau),
      uniformity(c2, tau),
    ]);
    const salient = tf.addN([
      weightedAlign(inputs.s1, inputs.s2, isTarget, tau),
      uniformity(t1, tau),
      uniformity(t2, tau),
    ]);
    const zeros = tf.zerosLike(inputs.s1);
    const reg = tf.div(
      tf.add(
        weightedAlign(inputs.s1, zeros, isBackground, tau),
        weightedAlign(inputs.s2, zeros, isBackground, tau),
      ),
      2,
    );
    const jem = tf.div(tf.add(jointEntropy(c1, t1, tau), jointEntropy(c2, t2, tau)), 2);
    const total = tf.addN([
      common,
      tf.mul(betaSalient, salient),
      tf.mul(betaReg, reg),
      tf.mul(lambdaJem, jem),
    ]);
    return {
      total: total as tf.Scalar,
      common: common as tf.Scalar,
      salient: salient as tf.Scalar,
      reg: reg as tf.Scalar,
      jem: jem as tf.Scalar,
    };
  });
}
