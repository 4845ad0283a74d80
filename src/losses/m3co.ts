import * as tf from '@tensorflow/tfjs';
import { normalizeRows } from '../nn/rows';

/**
 * Mixup of the rows of x: x~_i = lambda_i x_i + (1 - lambda_i) x_perm(i), for any [N, ...] tensor (images or
 * embeddings). `lambdas` is float32 [N], `perm` int32 [N].
 */
export function mixRows<T extends tf.Tensor>(x: T, lambdas: tf.Tensor1D, perm: tf.Tensor1D): T {
  return tf.tidy(() => {
    const shape = [x.shape[0], ...x.shape.slice(1).map(() => 1)];
    const weights = tf.reshape(lambdas, shape);
    return tf.add(tf.mul(weights, x), tf.mul(tf.sub(1, weights), tf.gather(x, perm))) as T;
  });
}

/**
 * The M3Co loss of one mixed modality (Kumar, Singhal, Kulkarni, Mehta & Jadhav, "Harnessing Shared Relations via
 * Multimodal Mixup Contrastive Learning for Multimodal Classification", TMLR 2025, arXiv 2409.17777): p~ are the
 * embeddings of the mixed samples of one modality (mixed with lambda and perm as mixRows does), q the embeddings
 * of the other modality's unmixed samples. With l_ij = norm(p~_i) . norm(q_j) / tau and the soft targets
 *   T_ij = lambda_i [j = i] + (1 - lambda_i) [j = perm(i)]   (both when perm(i) = i: T_ii = 1),
 *   L = ( -(1/N) sum_i sum_j T_ij log softmax_j(l_i.)  -  (1/N) sum_j sum_i T_ij log softmax_i(l_.j) ) / 2,
 * the mixed sample is pulled to both of its sources in the other modality, in proportion to its share of each.
 */
export function m3coLoss(
  mixed: tf.Tensor2D,
  fixed: tf.Tensor2D,
  lambdas: tf.Tensor1D,
  perm: tf.Tensor1D,
  tau: number,
): tf.Scalar {
  const [N] = mixed.shape;
  if (fixed.shape[0] !== N || fixed.shape[1] !== mixed.shape[1]) {
    throw new Error(
      `loss 'm3col': the mixed and the fixed embeddings must have the same shape, got [${mixed.shape}] and [${fixed.shape}]`,
    );
  }
  if (lambdas.shape[0] !== N || perm.shape[0] !== N) {
    throw new Error(`loss 'm3col': lambdas and perm need one entry per row (${N})`);
  }
  return tf.tidy(() => {
    const logits = tf.div(tf.matMul(normalizeRows(mixed), normalizeRows(fixed), false, true), tau);
    const share = tf.expandDims(lambdas, 1);
    const targets = tf.add(
      tf.mul(tf.eye(N), share),
      tf.mul(tf.cast(tf.oneHot(perm, N), 'float32'), tf.sub(1, share)),
    );
    const rows = tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(logits, 1))));
    const columns = tf.neg(tf.sum(tf.mul(tf.transpose(targets), tf.logSoftmax(tf.transpose(logits), 1))));
    return tf.div(tf.add(rows, columns), 2 * N) as tf.Scalar;
  });
}

/**
 * The soft-target CLIP loss M3CoL trains with after its mixup phase (the authors' soft_clip_loss): with p = norm
 * of the predicting modality, t = norm of the target modality, logits l = p t^T / tau and soft targets
 * T = softmax_row(t t^T / tau),
 *   L = ( -(1/N) sum_i sum_j T_ij log softmax_j(l_i.) - (1/N) sum_i sum_j T_ij log softmax_j((l^T)_i.) ) / 2.
 * The targets are not detached (as in the authors' code).
 */
export function softClipLoss(preds: tf.Tensor2D, targs: tf.Tensor2D, tau: number): tf.Scalar {
  return tf.tidy(() => {
    const p = normalizeRows(preds);
    const t = normalizeRows(targs);
    const targets = tf.softmax(tf.div(tf.matMul(t, t, false, true), tau), 1);
    const logits = tf.div(tf.matMul(p, t, false, true), tau);
    const N = preds.shape[0];
    const first = tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(logits, 1))));
    const second = tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(tf.transpose(logits), 1))));
    return tf.div(tf.add(first, second), 2 * N) as tf.Scalar;
  });
}
