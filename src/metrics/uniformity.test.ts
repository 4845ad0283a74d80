import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { randomViews, normRow, sqDist } from '../nn/testing';
import { uniformity } from './uniformity';

/** Modified Bessel function of the first kind I0(x) = sum_k (x/2)^(2k) / (k!)^2. */
function besselI0(x: number): number {
  let term = 1;
  let sum = 1;
  for (let k = 1; k < 60; k++) {
    term *= (x / 2) ** 2 / (k * k);
    sum += term;
  }
  return sum;
}

/** n points evenly spaced on the unit circle, scaled by `radius` (uniformity normalises them). */
function circle(n: number, radius = 1): tf.Tensor2D {
  const points = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    points[2 * i] = radius * Math.cos((2 * Math.PI * i) / n);
    points[2 * i + 1] = radius * Math.sin((2 * Math.PI * i) / n);
  }
  return tf.tensor2d(points, [n, 2]);
}

/** log mean_{i<j} exp(-t ||norm(z_i) - norm(z_j)||^2), pair by pair. */
function referenceUniformity(rows: number[][], t: number): number {
  const normalized = rows.map(normRow);
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < rows.length; i++) {
    for (let j = i + 1; j < rows.length; j++) {
      sum += Math.exp(-t * sqDist(normalized[i], normalized[j]));
      pairs++;
    }
  }
  return Math.log(sum / pairs);
}

describe('uniformity', () => {
  it('tends to log(I0(4)) - 4 for points evenly spread on a circle', async () => {
    const limit = Math.log(besselI0(4)) - 4;
    const small = circle(200);
    const large = circle(2000, 5);
    const uniformitySmall = await uniformity(small);
    const uniformityLarge = await uniformity(large);
    // Excluding the i = j pairs leaves an O(1/n) gap: with A = I0(4) e^-4, the exact value for n
    // evenly spaced points is log((n A_n - 1) / (n - 1)), A_n = mean_k exp(4 cos(2 pi k / n) - 4).
    const exactFinite = (n: number) => {
      let meanKernel = 0;
      for (let k = 0; k < n; k++) meanKernel += Math.exp(4 * Math.cos((2 * Math.PI * k) / n) - 4) / n;
      return Math.log((n * meanKernel - 1) / (n - 1));
    };
    expect(Math.abs(uniformityLarge - exactFinite(2000))).toBeLessThan(1e-4);
    expect(Math.abs(uniformitySmall - exactFinite(200))).toBeLessThan(1e-4);
    expect(Math.abs(uniformityLarge - limit)).toBeLessThan(2.5e-3);
    expect(Math.abs(uniformityLarge - limit)).toBeLessThan(Math.abs(uniformitySmall - limit) / 5);
    tf.dispose([small, large]);
  });

  it('matches the pair-by-pair definition for every chunk size and temperature', async () => {
    const [rows] = randomViews(5, 1, 23, 6);
    const z = tf.tensor2d(rows);
    for (const rowChunk of [1, 4, 22, 64]) {
      expect(await uniformity(z, { rowChunk })).toBeCloseTo(referenceUniformity(rows, 2), 5);
    }
    expect(await uniformity(z, { t: 0.5, rowChunk: 5 })).toBeCloseTo(referenceUniformity(rows, 0.5), 5);
    z.dispose();
  });

  it('is -4t for two antipodal points (the minimum for n = 2)', async () => {
    const z = tf.tensor2d([
      [0, 2],
      [0, -1],
    ]);
    expect(await uniformity(z)).toBeCloseTo(-8, 5);
    z.dispose();
  });

  it('leaks no tensors when chunked, and needs two rows', async () => {
    const [rows] = randomViews(6, 1, 30, 4);
    const z = tf.tensor2d(rows);
    const before = tf.memory().numTensors;
    await uniformity(z, { rowChunk: 7 });
    expect(tf.memory().numTensors).toBe(before);
    const single = tf.tensor2d([[1, 0]]);
    await expect(uniformity(single)).rejects.toThrow(/at least 2 embedding row/);
    tf.dispose([z, single]);
  });
});
