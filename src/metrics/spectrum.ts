import * as tf from '@tensorflow/tfjs';
import { normalizeRows } from '../nn/rows';
import { checkEmbeddings } from './labels';
import { covariance, symmetricEigenvalues } from './linalg';

/**
 * Embedding spectrum (Jing et al. 2022, "Understanding Dimensional Collapse in Contrastive
 * Self-supervised Learning"): the eigenvalues of
 *   C = (Zn - mean)^T (Zn - mean) / (n - 1),   Zn = norm(Z) row-wise,
 * sorted descending (plotted as log10 against index; collapse shows as a cliff to ~0).
 * C is formed on the device and read back once; the eigenvalues come from ml-matrix. C is
 * positive semi-definite, so the tiny negative values rounding leaves are clamped to 0.
 */
export async function spectrum(z: tf.Tensor2D): Promise<number[]> {
  checkEmbeddings(z, 'spectrum', 2);
  const dims = z.shape[1];
  const covarianceMatrix = tf.tidy(() => covariance(normalizeRows(z)));
  const values = await covarianceMatrix.data();
  covarianceMatrix.dispose();
  return Array.from(symmetricEigenvalues(values as Float32Array, dims), (value) => Math.max(value, 0));
}
