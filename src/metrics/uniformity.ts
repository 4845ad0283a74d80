import * as tf from '@tensorflow/tfjs';
import { MASK_NEG, normalizeRows } from '../nn/rows';
import { checkEmbeddings } from './labels';

export interface UniformityOptions {
  /** Temperature t of the Gaussian potential (2 in the paper). */
  t?: number;
  /** Rows of the pairwise block formed at a time: memory is rowChunk x n floats, not n x n. */
  rowChunk?: number;
}

/**
 * Uniformity (Wang & Isola 2020, "Understanding Contrastive Representation Learning through
 * Alignment and Uniformity on the Hypersphere"):
 *   uniformity = log( mean_{i<j} exp(-t || norm(z_i) - norm(z_j) ||^2) ),   t = 2 by default,
 * on clean eval embeddings; lower means more evenly spread on the hypersphere. For points evenly
 * spread on a circle it tends to log(I0(2t)) - 2t as n grows (I0 = modified Bessel function).
 *
 * With x_i = norm(z_i) and u_i = exp(-t ||x_i||^2), exp(-t ||x_i - x_j||^2) = u_i u_j exp(2t x_i . x_j),
 * so the kernel summed over ordered pairs i != j is u^T exp(2t X X^T - big I) u (the masked
 * diagonal exps to 0), and sum_{i<j} is half of it: one matmul, one exp and one matrix-vector
 * product, rowChunk rows at a time so memory stays bounded (rowChunk x n floats, not n x n).
 * The block sums accumulate on the device and are read back once.
 */
export async function uniformity(z: tf.Tensor2D, options: UniformityOptions = {}): Promise<number> {
  const t = options.t ?? 2;
  const rowChunk = options.rowChunk ?? 512;
  checkEmbeddings(z, 'uniformity', 2);
  if (!(t > 0)) throw new Error(`uniformity: t must be > 0, got ${t}`);
  if (!Number.isInteger(rowChunk) || rowChunk < 1)
    throw new Error(`uniformity: rowChunk must be a positive integer, got ${rowChunk}`);

  const [n, dims] = z.shape;
  const normalized = normalizeRows(z);
  // Zero rows stay zero after normalizeRows, so u_i is exp(-t) or 1; computing it keeps both exact.
  const rowWeights = tf.tidy(() => tf.exp(tf.mul(-t, tf.sum(tf.square(normalized), 1, true))));
  let kernelSum: tf.Scalar = tf.scalar(0);
  for (let start = 0; start < n; start += rowChunk) {
    const rows = Math.min(rowChunk, n - start);
    const nextSum = tf.tidy(() => {
      const block = tf.slice(normalized, [start, 0], [rows, dims]);
      // Masking i = j before the exp, rather than subtracting n afterwards, avoids cancelling
      // against the tiny off-diagonal terms of well-spread points in float32.
      const selfPairs = tf.oneHot(tf.range(start, start + rows, 1, 'int32'), n, MASK_NEG, 0, 'float32');
      // |x_i . x_j| <= 1, so exp(2t x_i . x_j) <= e^(2t): no overflow for any sensible t.
      const kernel = tf.exp(tf.add(tf.matMul(tf.mul(2 * t, block), normalized, false, true), selfPairs));
      const weightedRows = tf.mul(tf.matMul(kernel, rowWeights), tf.slice(rowWeights, [start, 0], [rows, 1]));
      return tf.add(kernelSum, tf.sum(weightedRows)) as tf.Scalar;
    });
    kernelSum.dispose();
    kernelSum = nextSum;
  }
  normalized.dispose();
  rowWeights.dispose();
  const [total] = await kernelSum.data();
  kernelSum.dispose();
  return Math.log(total / (n * (n - 1)));
}
