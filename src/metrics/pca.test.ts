import * as tf from '@tensorflow/tfjs';
import { Matrix, QrDecomposition } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import { Rng } from '../nn/random';
import { pca2d } from './pca';

describe('pca2d', () => {
  it('projects points on a line onto the first axis, signed so the largest axis entry is positive', async () => {
    // z_i = t_i * u + c with u = (0.6, -0.8, 0): the first principal axis is -u (largest entry positive),
    // so the first coordinate is -(t_i - mean t) and the second is 0; all variance is explained by axis 1.
    const rng = new Rng(71);
    const positions = Array.from({ length: 20 }, () => rng.uniform(-3, 3));
    const meanPosition = positions.reduce((a, b) => a + b, 0) / positions.length;
    const z = tf.tensor2d(positions.map((t) => [0.6 * t + 1, -0.8 * t - 2, 5]));
    const { points, explained } = await pca2d(z);
    expect(points).toHaveLength(40);
    positions.forEach((t, i) => {
      expect(points[2 * i]).toBeCloseTo(-(t - meanPosition), 4);
      expect(Math.abs(points[2 * i + 1])).toBeLessThan(1e-4);
    });
    expect(explained[0]).toBeCloseTo(1, 5);
    expect(explained[1]).toBeCloseTo(0, 5);
    z.dispose();
  });

  it('recovers the variances of a rotated anisotropic Gaussian as uncorrelated axes', async () => {
    const rng = new Rng(72);
    const n = 400;
    const deviations = [3, 2, 0.3, 0.1];
    const q = new QrDecomposition(
      new Matrix(Array.from({ length: 4 }, () => Array.from({ length: 4 }, () => rng.normal()))),
    ).orthogonalMatrix;
    const latent = new Matrix(Array.from({ length: n }, () => deviations.map((s) => s * rng.normal())));
    const z = tf.tensor2d(latent.mmul(q.transpose()).to2DArray());
    const before = tf.memory().numTensors;
    const { points, explained } = await pca2d(z);
    expect(tf.memory().numTensors).toBe(before);
    // The projected coordinates are centred, uncorrelated, with variances lambda_1 >= lambda_2.
    let sum1 = 0,
      sum2 = 0,
      var1 = 0,
      var2 = 0,
      covariance12 = 0;
    for (let i = 0; i < n; i++) {
      sum1 += points[2 * i];
      sum2 += points[2 * i + 1];
      var1 += points[2 * i] ** 2 / (n - 1);
      var2 += points[2 * i + 1] ** 2 / (n - 1);
      covariance12 += (points[2 * i] * points[2 * i + 1]) / (n - 1);
    }
    expect(Math.abs(sum1 / n)).toBeLessThan(1e-4);
    expect(Math.abs(sum2 / n)).toBeLessThan(1e-4);
    expect(Math.abs(covariance12)).toBeLessThan(1e-3);
    expect(var1).toBeGreaterThan(var2);
    // Sample variances near 9 and 4; explained ratios near 9 / 13.1 and 4 / 13.1.
    expect(var1).toBeGreaterThan(7.5);
    expect(var1).toBeLessThan(10.5);
    expect(var2).toBeGreaterThan(3.3);
    expect(var2).toBeLessThan(4.7);
    // explained_k = lambda_k / trace(C), and trace(C) is the sum of the per-coordinate sample variances.
    const rows = z.arraySync();
    let trace = 0;
    for (let d = 0; d < 4; d++) {
      const mean = rows.reduce((sum, row) => sum + row[d], 0) / n;
      trace += rows.reduce((sum, row) => sum + (row[d] - mean) ** 2, 0) / (n - 1);
    }
    expect(explained[0]).toBeCloseTo(var1 / trace, 4);
    expect(explained[1]).toBeCloseTo(var2 / trace, 4);
    z.dispose();
  });

  it('needs at least two dimensions and two rows', async () => {
    const column = tf.tensor2d([[1], [2], [3]]);
    await expect(pca2d(column)).rejects.toThrow(/dimension >= 2/);
    column.dispose();
  });
});
