import * as tf from '@tensorflow/tfjs';
import { checkEmbeddings } from './labels';
import { covariance, symmetricEigen } from './linalg';

/** A 2-D PCA projection: point i is (points[2i], points[2i + 1]). */
export interface Pca2d {
  points: Float32Array;
  /** Fraction of the total variance along each of the two axes. */
  explained: [number, number];
}

/** Flips v so that its largest-magnitude entry is positive, so the scatter does not mirror between evaluations. */
function withStableSign(vector: Float64Array): Float64Array {
  let largest = 0;
  for (let i = 1; i < vector.length; i++) if (Math.abs(vector[i]) > Math.abs(vector[largest])) largest = i;
  return vector[largest] < 0 ? vector.map((x) => -x) : vector;
}

/**
 * Principal component projection to 2-D for the embedding scatter (Pearson 1901):
 *   C = (Z - mean)^T (Z - mean) / (n - 1) = V diag(lambda) V^T,  points = (Z - mean) [v_1 v_2],
 *   explained_k = lambda_k / sum(lambda).
 * C is formed on the device and read back; its top-2 eigenvectors come from ml-matrix; the
 * projection runs on the device and is read back once more.
 */
export async function pca2d(z: tf.Tensor2D): Promise<Pca2d> {
  checkEmbeddings(z, 'pca2d', 2);
  const dims = z.shape[1];
  if (dims < 2) throw new Error(`pca2d: needs embeddings of dimension >= 2 to project to 2-D, got ${dims}`);
  const covarianceMatrix = covariance(z);
  const covarianceValues = await covarianceMatrix.data();
  covarianceMatrix.dispose();
  const { values, vectors } = symmetricEigen(covarianceValues as Float32Array, dims);

  const axes = new Float32Array(dims * 2);
  const first = withStableSign(vectors[0]);
  const second = withStableSign(vectors[1]);
  for (let d = 0; d < dims; d++) {
    axes[d * 2] = first[d];
    axes[d * 2 + 1] = second[d];
  }
  const projection = tf.tidy(() => tf.matMul(tf.sub(z, tf.mean(z, 0, true)), tf.tensor2d(axes, [dims, 2])));
  const points = (await projection.data()) as Float32Array;
  projection.dispose();

  const totalVariance = values.reduce((sum, value) => sum + Math.max(value, 0), 0);
  const explainedShare = (value: number): number =>
    totalVariance > 0 ? Math.max(value, 0) / totalVariance : 0;
  return { points, explained: [explainedShare(values[0]), explainedShare(values[1])] };
}
