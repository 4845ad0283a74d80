import * as tf from '@tensorflow/tfjs';

/** Large finite negative added to masked logits (never -Infinity: -inf * 0 = NaN on WGSL). */
export const MASK_NEG = -1e9;

/**
 * norm(z) = z / max(||z||_2, 1e-12), row-wise, written as z * rsqrt(max(||z||^2, 1e-24)) so that a zero row
 * has a finite gradient (tf.norm's sqrt has a 0/0 gradient at 0), as PyTorch's F.normalize.
 */
export function normalizeRows(z: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const squaredNorm = tf.maximum(tf.sum(tf.square(z), 1, true), 1e-24);
    return tf.mul(z, tf.rsqrt(squaredNorm)) as tf.Tensor2D;
  });
}

/** Z = concat(norm(views[0]), ..., norm(views[V-1])): row r is instance r mod N of view floor(r / N). */
export function stackNormalized(views: tf.Tensor2D[]): tf.Tensor2D {
  return tf.tidy(() => tf.concat(views.map(normalizeRows), 0) as tf.Tensor2D);
}

/** Stable log-sum-exp along `axis` (tf.logSumExp subtracts the max). */
export function lse(x: tf.Tensor, axis: number): tf.Tensor {
  return tf.logSumExp(x, axis);
}

/** A constant [rows, cols] float mask tensor built from a predicate (1 = keep, 0 = masked). */
export function maskFrom(rows: number, cols: number, keep: (r: number, c: number) => boolean): tf.Tensor2D {
  const values = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) values[r * cols + c] = keep(r, c) ? 1 : 0;
  return tf.tensor2d(values, [rows, cols]);
}

/** logits + MASK_NEG where mask = 0. */
export function applyMask(logits: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.add(logits, tf.mul(tf.sub(1, mask), MASK_NEG)) as tf.Tensor2D);
}

/** Throws a clear error when the number of views is outside what a loss accepts or their shapes differ. */
export function checkViews(id: string, views: tf.Tensor[], minViews: number, maxViews: number): void {
  if (views.length < minViews || views.length > maxViews) {
    const range = maxViews === Infinity ? `at least ${minViews}` : minViews === maxViews ? `exactly ${minViews}` : `${minViews}..${maxViews}`;
    throw new Error(`loss '${id}' needs ${range} views, got ${views.length}; set views in the run config accordingly`);
  }
  const first = views[0].shape.join('x');
  views.forEach((view, v) => {
    if (view.rank !== 2 || view.shape.join('x') !== first) {
      throw new Error(`loss '${id}': every view must be a [N, D] matrix of the same shape; view 0 is [${views[0].shape}], view ${v} is [${view.shape}]`);
    }
  });
}
