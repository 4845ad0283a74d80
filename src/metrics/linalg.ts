import * as tf from '@tensorflow/tfjs';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';

// TensorFlow.js has no SVD or eigendecomposition: the D x D matrices below are formed on the
// device, read back once, and decomposed on the CPU by ml-matrix (D is at most a few hundred).

/** Eigenvalues (descending) and unit eigenvectors (vectors[k] belongs to values[k]) of a symmetric matrix. */
export interface SymmetricEigen {
  values: Float64Array;
  vectors: Float64Array[];
}

function checkSquare(matrix: ArrayLike<number>, n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`matrix size n must be a positive integer, got ${n}`);
  if (matrix.length !== n * n) {
    throw new Error(
      `expected a row-major ${n} x ${n} matrix (${n * n} values), got ${matrix.length} values; pass the size the matrix was built with`,
    );
  }
}

/** Runs ml-matrix's symmetric eigendecomposition on (A + A^T) / 2 (device matmuls are symmetric only up to rounding). */
function decompose(matrix: ArrayLike<number>, n: number): EigenvalueDecomposition {
  checkSquare(matrix, n);
  // ml-matrix's QL iteration fails with an unrelated TypeError on NaN or Inf entries: say what is wrong instead
  for (let i = 0; i < n * n; i++) {
    if (!Number.isFinite(matrix[i])) {
      throw new Error(
        `eigendecomposition of a ${n}x${n} matrix with a non-finite entry (${matrix[i]} at row ${Math.floor(i / n)}): ` +
          'the embeddings it was computed from hold NaN or Inf',
      );
    }
  }
  const symmetric = new Matrix(n, n);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) symmetric.set(r, c, 0.5 * (matrix[r * n + c] + matrix[c * n + r]));
  }
  return new EigenvalueDecomposition(symmetric, { assumeSymmetric: true });
}

/** Indices that sort `values` descending. */
function descendingOrder(values: number[]): number[] {
  return values.map((_, i) => i).sort((a, b) => values[b] - values[a]);
}

/**
 * Eigenvalues of the symmetric n x n matrix A (row-major), sorted descending:
 * A = Q diag(lambda) Q^T, computed with ml-matrix's EigenvalueDecomposition (Householder
 * tridiagonalisation + QL, the JAMA algorithm) on the symmetrised (A + A^T) / 2.
 */
export function symmetricEigenvalues(matrix: Float32Array | Float64Array, n: number): Float64Array {
  const values = decompose(matrix, n).realEigenvalues;
  return Float64Array.from(descendingOrder(values).map((i) => values[i]));
}

/**
 * Eigenvalues (descending) and matching unit eigenvectors of the symmetric n x n matrix A
 * (row-major): A v_k = lambda_k v_k, via ml-matrix's EigenvalueDecomposition.
 */
export function symmetricEigen(matrix: Float32Array | Float64Array, n: number): SymmetricEigen {
  const evd = decompose(matrix, n);
  const values = evd.realEigenvalues;
  const vectorMatrix = evd.eigenvectorMatrix;
  const order = descendingOrder(values);
  return {
    values: Float64Array.from(order.map((i) => values[i])),
    vectors: order.map((i) => Float64Array.from(vectorMatrix.getColumn(i))),
  };
}

/** Gram matrix G = Z^T Z ([D, D]) of Z [n, D], on the device. Its eigenvalues are the squared singular values of Z. */
export function gram(z: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(z, z, true, false);
}

/** Sample covariance C = (Z - mean)^T (Z - mean) / (n - 1) ([D, D]) of the rows of Z [n, D], on the device. */
export function covariance(z: tf.Tensor2D): tf.Tensor2D {
  const n = z.shape[0];
  if (n < 2) throw new Error(`covariance needs at least 2 rows, got ${n}; evaluate on more samples`);
  return tf.tidy(() => {
    const centred = tf.sub(z, tf.mean(z, 0, true));
    return tf.div(tf.matMul(centred, centred, true, false), n - 1) as tf.Tensor2D;
  });
}
