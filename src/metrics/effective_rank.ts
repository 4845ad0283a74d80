import * as tf from '@tensorflow/tfjs';
import { checkEmbeddings } from './labels';
import { gram, symmetricEigenvalues } from './linalg';

/** Float32 machine epsilon: the relative rounding of the device's Z^T Z. */
const FLOAT32_EPSILON = 2 ** -23;

/**
 * Effective rank from singular values (Roy & Vetterli 2007), as RankMe (Garrido et al. 2023,
 * "RankMe: Assessing the Downstream Performance of Pretrained Self-Supervised Representations
 * by Their Rank"):
 *   sigma = the singular values of an embedding matrix, p_k = sigma_k / sum(sigma) + 1e-7,
 *   erank = exp(-sum_k p_k log p_k),
 * between 1 (one direction) and min(n, D); k equal non-zero singular values give k.
 */
export function effectiveRankFromSingularValues(singularValues: ArrayLike<number>): number {
  let total = 0;
  for (let k = 0; k < singularValues.length; k++) total += singularValues[k];
  // All-zero embeddings (e.g. dead ReLU features) use no dimension at all.
  if (!(total > 0)) return 0;
  let entropy = 0;
  for (let k = 0; k < singularValues.length; k++) {
    const p = singularValues[k] / total + 1e-7;
    entropy -= p * Math.log(p);
  }
  return Math.exp(entropy);
}

/**
 * RankMe effective rank of the raw (uncentred) n x D embedding matrix Z (Garrido et al. 2023):
 * sigma_k = sqrt(eigenvalue_k of Z^T Z), then erank = exp(-sum_k p_k log p_k) with
 * p_k = sigma_k / sum(sigma) + 1e-7 (see effectiveRankFromSingularValues).
 *
 * Z^T Z is formed on the device in float32 and read back once. Its eigenvalues below
 * lambda_max * D * eps_float32 are rounding noise (the matrix-rank tolerance of LAPACK/numpy),
 * and the square root would magnify that noise into spurious singular values, so they count as 0.
 */
export async function effectiveRank(z: tf.Tensor2D): Promise<number> {
  checkEmbeddings(z, 'effectiveRank');
  const dims = z.shape[1];
  const gramMatrix = gram(z);
  const values = await gramMatrix.data();
  gramMatrix.dispose();
  const eigenvalues = symmetricEigenvalues(values as Float32Array, dims);
  const noiseFloor = Math.max(eigenvalues[0], 0) * dims * FLOAT32_EPSILON;
  return effectiveRankFromSingularValues(
    eigenvalues.map((value) => (value > noiseFloor ? Math.sqrt(value) : 0)),
  );
}
