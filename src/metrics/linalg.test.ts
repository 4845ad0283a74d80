import * as tf from '@tensorflow/tfjs';
import { Matrix, QrDecomposition } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import { Rng } from '../nn/random';
import { covariance, gram, symmetricEigen, symmetricEigenvalues } from './linalg';

function randomMatrix(rng: Rng, rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => rng.normal()));
}

/** A random n x n orthogonal matrix: the Q of the QR decomposition of a Gaussian matrix. */
function randomOrthogonal(rng: Rng, n: number): Matrix {
  return new QrDecomposition(new Matrix(randomMatrix(rng, n, n))).orthogonalMatrix;
}

function rowMajor(matrix: Matrix): Float64Array {
  return Float64Array.from(matrix.to1DArray());
}

describe('symmetricEigenvalues', () => {
  it('returns the diagonal of a diagonal matrix, sorted descending', () => {
    const diagonal = [5, -1, 3, 0];
    const matrix = rowMajor(Matrix.diag(diagonal));
    expect(Array.from(symmetricEigenvalues(matrix, 4))).toEqual([5, 3, 0, -1]);
  });

  it('recovers a known spectrum hidden by a random rotation Q D Q^T', () => {
    const spectrum = [10, 4, 2.5, 1, 0.5, 0.1];
    const q = randomOrthogonal(new Rng(1), 6);
    const rotated = q.mmul(Matrix.diag(spectrum)).mmul(q.transpose());
    const values = symmetricEigenvalues(rowMajor(rotated), 6);
    spectrum.forEach((expected, k) => expect(values[k]).toBeCloseTo(expected, 9));
  });

  it('accepts the float32 matrices a device readback gives', () => {
    const q = randomOrthogonal(new Rng(2), 5);
    const rotated = q.mmul(Matrix.diag([3, 2, 1, 0, 0])).mmul(q.transpose());
    const values = symmetricEigenvalues(Float32Array.from(rotated.to1DArray()), 5);
    [3, 2, 1, 0, 0].forEach((expected, k) => expect(Math.abs(values[k] - expected)).toBeLessThan(1e-5));
  });

  it('gives one non-zero eigenvalue ||v||^2 for the rank-1 matrix v v^T', () => {
    const v = [1, -2, 0.5, 3];
    const outer = Float64Array.from(v.flatMap((a) => v.map((b) => a * b)));
    const values = symmetricEigenvalues(outer, 4);
    expect(values[0]).toBeCloseTo(1 + 4 + 0.25 + 9, 10);
    for (let k = 1; k < 4; k++) expect(Math.abs(values[k])).toBeLessThan(1e-12);
  });

  it('names the problem when the matrix size does not match n', () => {
    expect(() => symmetricEigenvalues(new Float64Array(8), 3)).toThrow(/3 x 3 matrix \(9 values\), got 8/);
  });

  it('names a NaN or Inf entry instead of failing inside the QL iteration', () => {
    const a = Float64Array.from([1, 0, 0, NaN]);
    expect(() => symmetricEigenvalues(a, 2)).toThrow(/non-finite entry \(NaN at row 1\)/);
    expect(() => symmetricEigen(Float64Array.from([Infinity, 0, 0, 1]), 2)).toThrow(/Infinity at row 0/);
  });
});

describe('symmetricEigen', () => {
  it('returns unit eigenvectors with A v_k = lambda_k v_k, in descending order', () => {
    const q = randomOrthogonal(new Rng(3), 5);
    const a = q.mmul(Matrix.diag([7, -2, 4, 1, 0.5])).mmul(q.transpose());
    const { values, vectors } = symmetricEigen(rowMajor(a), 5);
    expect(Array.from(values).map((x) => Number(x.toFixed(9)))).toEqual([7, 4, 1, 0.5, -2]);
    vectors.forEach((vector, k) => {
      const av = a.mmul(Matrix.columnVector(Array.from(vector))).to1DArray();
      const norm = Math.hypot(...vector);
      expect(norm).toBeCloseTo(1, 10);
      av.forEach((x, i) => expect(x).toBeCloseTo(values[k] * vector[i], 9));
    });
  });

  it('finds the rank-1 direction v / ||v|| up to sign', () => {
    const v = [2, 0, -1];
    const outer = Float64Array.from(v.flatMap((a) => v.map((b) => a * b)));
    const { vectors } = symmetricEigen(outer, 3);
    const sign = Math.sign(vectors[0][0]);
    v.forEach((x, i) => expect(sign * vectors[0][i]).toBeCloseTo(x / Math.sqrt(5), 10));
  });
});

describe('gram and covariance', () => {
  const rows = randomMatrix(new Rng(4), 7, 3);

  it('gram computes Z^T Z', () => {
    const z = tf.tensor2d(rows);
    const result = gram(z).arraySync();
    for (let a = 0; a < 3; a++) {
      for (let b = 0; b < 3; b++) {
        expect(result[a][b]).toBeCloseTo(
          rows.reduce((sum, row) => sum + row[a] * row[b], 0),
          4,
        );
      }
    }
    z.dispose();
  });

  it('covariance computes (Z - mean)^T (Z - mean) / (n - 1) without leaking', () => {
    const z = tf.tensor2d(rows);
    const before = tf.memory().numTensors;
    const c = covariance(z);
    expect(tf.memory().numTensors).toBe(before + 1);
    const result = c.arraySync();
    c.dispose();
    const means = [0, 1, 2].map((d) => rows.reduce((sum, row) => sum + row[d], 0) / rows.length);
    for (let a = 0; a < 3; a++) {
      for (let b = 0; b < 3; b++) {
        const expected =
          rows.reduce((sum, row) => sum + (row[a] - means[a]) * (row[b] - means[b]), 0) / (rows.length - 1);
        expect(result[a][b]).toBeCloseTo(expected, 4);
      }
    }
    z.dispose();
  });

  it('covariance refuses a single row', () => {
    const z = tf.tensor2d([[1, 2]]);
    expect(() => covariance(z)).toThrow(/at least 2 rows/);
    z.dispose();
  });
});
