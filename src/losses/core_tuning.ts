import * as tf from '@tensorflow/tfjs';
import { sampleBeta } from '../nn/beta';
import type { Rng } from '../nn/random';
import { gatherRows, normalizeRows, stopGradient } from '../nn/rows';

/**
 * Core-tuning, contrast-regularised fine-tuning (Zhang, Hooi, Hu, Liang & Feng 2021, "Unleashing the Power of
 * Contrastive Self-Supervised Visual Models via Contrast-Regularized Fine-Tuning", NeurIPS 2021, arXiv
 * 2102.06605): the focal contrastive regulariser, hard positive / negative generation by mixing backbone features,
 * and the smooth-boundary mixup cross-entropy. Pure functions of tensors; the fine-tuning stage that uses them is
 * src/engine/protocols/fine_tune.ts. Equations: docs/losses.md.
 */

/**
 * Focal contrastive loss on the rows of z (normalised here) with integer labels y:
 *   p_ik = exp(z_i.z_k / tau) / sum_{j != i} exp(z_i.z_j / tau)
 *   L = mean over anchors i with P_i != {} of  -(1 / |P_i|) sum_{k in P_i} (1 - p_ik) log p_ik,
 * P_i = {k != i : y_k = y_i}. The factor (1 - p_ik) down-weights positives that are already easy. 0 when no anchor
 * has a positive.
 */
export function focalContrastive(z: tf.Tensor2D, labels: tf.Tensor1D, tau: number): tf.Scalar {
  const n = z.shape[0];
  if (labels.shape[0] !== n)
    throw new Error(`focal contrastive: labels have shape [${labels.shape}], expected [${n}] (one per row)`);
  if (n < 2) throw new Error(`focal contrastive: needs at least 2 rows, got ${n}`);
  return tf.tidy(() => {
    const unit = normalizeRows(z);
    const eye = tf.eye(n);
    const logits = tf.add(tf.div(tf.matMul(unit, unit, false, true), tau), tf.mul(eye, -1e9));
    const logProb = tf.sub(logits, tf.logSumExp(logits, 1, true));
    const same = tf.cast(tf.equal(tf.expandDims(labels, 1), tf.expandDims(labels, 0)), 'float32');
    const positives = tf.mul(same, tf.sub(1, eye));
    const counts = tf.sum(positives, 1);
    // (1 - p) log p on positives only; tf.where keeps the masked diagonal's log p of about -1e9 out of the product
    const onPositives = tf.where(tf.cast(positives, 'bool'), logProb, tf.zerosLike(logProb));
    const focal = tf.mul(tf.sub(1, tf.exp(logProb)), onPositives);
    const perAnchor = tf.div(tf.neg(tf.sum(focal, 1)), tf.maximum(counts, 1));
    const hasPositive = tf.cast(tf.greater(counts, 0), 'float32');
    return tf.div(tf.sum(tf.mul(perAnchor, hasPositive)), tf.maximum(tf.sum(hasPositive), 1)) as tf.Scalar;
  });
}

/**
 * Per anchor i of a labelled batch of features f: the hardest negative hn(i) = argmax_{k : y_k != y_i} cos(f_i, f_k)
 * and the hardest positive hp(i) = argmin_{k != i : y_k = y_i} cos(f_i, f_k); an anchor without such a row gets
 * itself. Selection only: the indices are constants (read back), no gradient flows through the choice. int32 [N]
 * tensors, the caller's.
 */
export function mineHardPairs(
  f: tf.Tensor2D,
  labels: tf.Tensor1D,
): { hardNegative: tf.Tensor1D; hardPositive: tf.Tensor1D } {
  return tf.tidy(() => {
    const n = f.shape[0];
    const unit = normalizeRows(stopGradient(f));
    const sim = tf.matMul(unit, unit, false, true);
    const same = tf.equal(tf.expandDims(labels, 1), tf.expandDims(labels, 0));
    const self = tf.cast(tf.eye(n), 'bool');
    const negative = tf.logicalNot(same);
    const positive = tf.logicalAnd(same, tf.logicalNot(self));
    const own = tf.range(0, n, 1, 'int32');
    const pick = (mask: tf.Tensor, scores: tf.Tensor) =>
      tf.where(
        tf.any(mask, 1),
        tf.cast(tf.argMax(tf.where(mask, scores, tf.fill([n, n], -1e9)), 1), 'int32'),
        own,
      ) as tf.Tensor1D;
    // the same data as a tensor no recorded op produced (the way tfjs's own reshape kernels share data): autodiff
    // never walks the selection's comparisons (they have no gradients), and nothing is read back to the CPU (a
    // synchronous read fails on WebGPU in a worker)
    const constant = (t: tf.Tensor1D) => {
      const engine = tf.engine();
      engine.backend.incRef(t.dataId);
      return engine.makeTensorFromDataId(t.dataId, t.shape, t.dtype, engine.backend) as tf.Tensor1D;
    };
    return {
      hardNegative: constant(pick(negative, sim)),
      hardPositive: constant(pick(positive, tf.neg(sim))),
    };
  });
}

/** Mixing weights of one batch: lambda_neg in [minNegative, 1], lambda_pos in [0.5, 1], both from Beta(alpha, alpha). */
export interface MixingWeights {
  negative: Float32Array;
  positive: Float32Array;
}

/**
 * Seeded mixing weights for n anchors: lambda_neg = max(Beta(alpha, alpha), minNegative) (the reference code's 0.8
 * floor: the hard negative stays mostly the negative), lambda_pos = max(l, 1 - l), l ~ Beta(alpha, alpha) (the
 * hard positive stays mostly the positive, so it keeps the anchor's class).
 */
export function sampleMixingWeights(rng: Rng, n: number, alpha: number, minNegative = 0.8): MixingWeights {
  const negative = new Float32Array(n);
  const positive = new Float32Array(n);
  for (let i = 0; i < n; i++) negative[i] = Math.max(sampleBeta(rng, alpha, alpha), minNegative);
  for (let i = 0; i < n; i++) {
    const l = sampleBeta(rng, alpha, alpha);
    positive[i] = Math.max(l, 1 - l);
  }
  return { negative, positive };
}

/** What generateHardPairs returns: 3N rows (anchors, hard negatives, hard positives). */
export interface HardPairBatch {
  /** [3N, F]: f, then f~neg_i = (1 - ln_i) f_i + ln_i f_hn(i), then f~pos_i = lp_i f_hp(i) + (1 - lp_i) f_hn(i). */
  features: tf.Tensor2D;
  /** [3N, C] the same mixes of the one-hot labels (smooth-boundary mixup targets). */
  soft: tf.Tensor2D;
  /** [3N] int32 labels for the contrastive term: y_i, y_hn(i) (mostly the negative), y_i (mostly the positive). */
  hard: tf.Tensor1D;
}

/**
 * Core-tuning's hard pair generation in feature space: each anchor gets a hard negative (its hardest negative
 * moved towards it) and a hard positive (its hardest positive moved towards its hardest negative). Differentiable
 * in f (the mixes are linear in the features); the selection itself is not.
 */
export function generateHardPairs(
  f: tf.Tensor2D,
  labels: tf.Tensor1D,
  numClasses: number,
  weights: MixingWeights,
): HardPairBatch {
  const n = f.shape[0];
  if (weights.negative.length !== n || weights.positive.length !== n)
    throw new Error(
      `hard pairs: ${weights.negative.length} mixing weights for ${n} rows; sample one per row`,
    );
  return tf.tidy(() => {
    const { hardNegative, hardPositive } = mineHardPairs(f, labels);
    const ln = tf.tensor2d(weights.negative, [n, 1]);
    const lp = tf.tensor2d(weights.positive, [n, 1]);
    const y = tf.oneHot(labels, numClasses).toFloat();
    const fn = gatherRows(f, tf.cast(hardNegative, 'float32') as tf.Tensor1D);
    const fp = gatherRows(f, tf.cast(hardPositive, 'float32') as tf.Tensor1D);
    const yn = tf.gather(y, hardNegative);
    const negatives = tf.add(tf.mul(tf.sub(1, ln), f), tf.mul(ln, fn));
    const positives = tf.add(tf.mul(lp, fp), tf.mul(tf.sub(1, lp), fn));
    const softNegatives = tf.add(tf.mul(tf.sub(1, ln), y), tf.mul(ln, yn));
    const softPositives = tf.add(tf.mul(lp, y), tf.mul(tf.sub(1, lp), yn));
    return {
      features: tf.concat([f, negatives, positives], 0) as tf.Tensor2D,
      soft: tf.concat([y, softNegatives, softPositives], 0) as tf.Tensor2D,
      hard: tf.concat([labels, tf.gather(labels, hardNegative), labels], 0) as tf.Tensor1D,
    };
  });
}

/** mean_r -sum_c target_rc log softmax(logits_r)_c (soft targets; one-hot rows give the usual cross-entropy). */
export function softCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), 1))) as tf.Scalar);
}
