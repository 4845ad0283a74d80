import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Rng } from '../nn/random';
import { spectrum } from './spectrum';

describe('spectrum', () => {
  it('has one non-zero eigenvalue for a rank-1 embedding, equal to the variance of its signs', async () => {
    // Rows s_i * v with random magnitudes and signs: normalised they are sign(s_i) * v / ||v||,
    // so C = var(sign) u u^T with the unbiased variance of the +-1 signs.
    const rng = new Rng(31);
    const direction = [0.3, -1.2, 0.5, 2, 0.1, -0.7];
    const signs: number[] = [];
    const rows = Array.from({ length: 40 }, () => {
      const sign = rng.next() < 0.4 ? -1 : 1;
      signs.push(sign);
      const magnitude = rng.uniform(0.5, 3);
      return direction.map((x) => sign * magnitude * x);
    });
    const meanSign = signs.reduce((a, b) => a + b, 0) / signs.length;
    const signVariance = signs.reduce((sum, s) => sum + (s - meanSign) ** 2, 0) / (signs.length - 1);
    const z = tf.tensor2d(rows);
    const values = await spectrum(z);
    expect(values).toHaveLength(6);
    expect(values[0]).toBeCloseTo(signVariance, 5);
    for (const value of values.slice(1)) {
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThan(1e-6 * values[0]);
    }
    z.dispose();
  });

  it('gives the known spectrum of one-hot rows: D - 1 eigenvalues n / (D (n - 1)) and one 0', async () => {
    // Rows c_i * e_{i mod D} normalise to e_{i mod D}, each n / D times, so C = n / (D (n - 1)) (I - 1 1^T / D):
    // eigenvalue n / (D (n - 1)) on the D - 1 directions orthogonal to the all-ones vector, 0 along it.
    const dims = 5;
    const n = 60;
    const rng = new Rng(32);
    const rows = Array.from({ length: n }, (_, i) =>
      Array.from({ length: dims }, (_, d) => (d === i % dims ? rng.uniform(0.2, 4) : 0)),
    );
    const z = tf.tensor2d(rows);
    const values = await spectrum(z);
    for (let k = 0; k < dims - 1; k++) expect(values[k]).toBeCloseTo(n / (dims * (n - 1)), 5);
    expect(values[dims - 1]).toBeLessThan(1e-6);
    expect(values[dims - 1]).toBeGreaterThanOrEqual(0);
    z.dispose();
  });

  it('is sorted descending and leaks no tensors', async () => {
    const rng = new Rng(33);
    const z = tf.tensor2d(
      Array.from({ length: 30 }, () => Array.from({ length: 8 }, () => rng.normal() * 2)),
    );
    const before = tf.memory().numTensors;
    const values = await spectrum(z);
    expect(tf.memory().numTensors).toBe(before);
    for (let k = 1; k < values.length; k++) expect(values[k]).toBeLessThanOrEqual(values[k - 1]);
    // Unit rows: the trace of C is (n / (n - 1)) (1 - ||mean||^2) <= n / (n - 1).
    expect(values.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(30 / 29 + 1e-5);
    z.dispose();
  });
});
