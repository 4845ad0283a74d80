import * as tf from '@tensorflow/tfjs';
import { Matrix, QrDecomposition, SingularValueDecomposition } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import { Rng } from '../nn/random';
import { effectiveRank, effectiveRankFromSingularValues } from './effective_rank';

function gaussian(rng: Rng, rows: number, cols: number): Matrix {
  return new Matrix(Array.from({ length: rows }, () => Array.from({ length: cols }, () => rng.normal())));
}

/** n x D matrix U diag(sigma) V^T with random orthonormal U (n x k) and V (D x k). */
function withSingularValues(rng: Rng, n: number, dims: number, singularValues: number[]): number[][] {
  const k = singularValues.length;
  const u = new QrDecomposition(gaussian(rng, n, k)).orthogonalMatrix.subMatrix(0, n - 1, 0, k - 1);
  const v = new QrDecomposition(gaussian(rng, dims, k)).orthogonalMatrix.subMatrix(0, dims - 1, 0, k - 1);
  return u.mmul(Matrix.diag(singularValues)).mmul(v.transpose()).to2DArray();
}

describe('effectiveRankFromSingularValues', () => {
  it('is exp of the entropy of sigma / sum(sigma)', () => {
    // The + 1e-7 in p_k moves the result by ~1e-5.
    expect(effectiveRankFromSingularValues([1, 1, 1, 0, 0])).toBeCloseTo(3, 4);
    // p = (2/3, 1/3): exp(-(2/3) log(2/3) - (1/3) log(1/3)) = 1.8899...
    expect(effectiveRankFromSingularValues([2, 1])).toBeCloseTo(
      Math.exp(-(2 / 3) * Math.log(2 / 3) - (1 / 3) * Math.log(1 / 3)),
      4,
    );
    expect(effectiveRankFromSingularValues([0, 0, 0])).toBe(0);
  });
});

describe('effectiveRank', () => {
  it('equals k for an embedding with k equal non-zero singular values', async () => {
    const rng = new Rng(41);
    for (const k of [1, 3, 8, 16]) {
      const z = tf.tensor2d(withSingularValues(rng, 48, 16, new Array<number>(k).fill(2.5)));
      expect(Math.abs((await effectiveRank(z)) - k)).toBeLessThan(1e-3 * k);
      z.dispose();
    }
  });

  it('matches RankMe from a float64 SVD on a random embedding, uncentred', async () => {
    const rng = new Rng(42);
    // A large common offset: centring would change the answer, RankMe does not centre.
    const rows = gaussian(rng, 64, 12)
      .to2DArray()
      .map((row) => row.map((x, d) => x * (1 + d) + 3));
    const reference = effectiveRankFromSingularValues(
      new SingularValueDecomposition(new Matrix(rows)).diagonal,
    );
    const z = tf.tensor2d(rows);
    const before = tf.memory().numTensors;
    expect(await effectiveRank(z)).toBeCloseTo(reference, 4);
    expect(tf.memory().numTensors).toBe(before);
    z.dispose();
  });

  it('is invariant to the overall scale and 0 for all-zero embeddings', async () => {
    const rng = new Rng(43);
    const rows = withSingularValues(rng, 30, 10, [5, 3, 1, 0.5]);
    const z = tf.tensor2d(rows);
    const scaled = tf.mul(z, 1000) as tf.Tensor2D;
    const zeros = tf.zeros([10, 4]) as tf.Tensor2D;
    expect(await effectiveRank(scaled)).toBeCloseTo(await effectiveRank(z), 4);
    expect(await effectiveRank(z)).toBeCloseTo(effectiveRankFromSingularValues([5, 3, 1, 0.5]), 4);
    expect(await effectiveRank(zeros)).toBe(0);
    tf.dispose([z, scaled, zeros]);
  });
});
