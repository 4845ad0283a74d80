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

/** The views normalised and stacked as [V, N, D]: units[v][i] = norm(views[v]_i). */
export function stackUnitViews(views: tf.Tensor2D[]): tf.Tensor3D {
  return tf.tidy(() => {
    const [N, D] = views[0].shape;
    // stackNormalized is view-major (row r = instance r mod N of view floor(r / N)).
    return tf.reshape(stackNormalized(views), [views.length, N, D]) as tf.Tensor3D;
  });
}

/** The n x n identity as a float32 mask, built on the device (no n*n host upload per step). */
export function identityMask(n: number): tf.Tensor2D {
  return tf.tidy(() => tf.oneHot(tf.range(0, n, 1, 'int32'), n, 1, 0, 'float32') as tf.Tensor2D);
}

/** x + MASK_NEG where mask = 1 (broadcasting): removes those entries from any log-sum-exp. */
export function maskOut<T extends tf.Tensor>(x: T, mask: tf.Tensor): T {
  return tf.tidy(() => tf.add(x, tf.mul(mask, MASK_NEG)) as T);
}

/**
 * Per-instance cross-view cosines: gram[i, l, m] = units[l][i] . units[m][i], shape [N, V, V].
 * Costs N V^2 D, far less than the full (VN)^2 similarity matrix.
 */
export function instanceGram(units: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const byInstance = tf.transpose(units, [1, 0, 2]); // [N, V, D]
    return tf.matMul(byInstance, byInstance, false, true) as tf.Tensor3D;
  });
}

/**
 * Makes the output a constant for autodiff: same value, zero gradient (tfjs has no stopGradient op).
 */
export const stopGradient = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => ({
  value: tf.clone(inputs[0] as tf.Tensor),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as <T extends tf.Tensor>(x: T) => T;

/**
 * x[indices] as a differentiable op in x only: tf.gather's own gradient also sends an int32 zero gradient to its
 * indices, which the tape refuses when the indices were computed from x (e.g. a hard-pair mining or a nearest-neighbour search). Indices come as float32.
 */
export const gatherRows = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, indices, save] = inputs as [tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
  const rows = x.shape[0];
  save([indices]);
  return {
    value: tf.gather(x, tf.cast(indices, 'int32')),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
      tf.unsortedSegmentSum(dy, tf.cast(saved[0], 'int32') as tf.Tensor1D, rows),
      tf.zerosLike(saved[0]),
    ],
  };
}) as (x: tf.Tensor2D, indices: tf.Tensor1D) => tf.Tensor2D;
