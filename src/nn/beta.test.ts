import { describe, expect, it } from 'vitest';
import { sampleBeta, sampleGamma } from './beta';
import { Rng } from './random';

function moments(draw: () => number, n: number): { mean: number; variance: number } {
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const x = draw();
    sum += x;
    sumSq += x * x;
  }
  const mean = sum / n;
  return { mean, variance: sumSq / n - mean * mean };
}

describe('sampleBeta / sampleGamma', () => {
  it.each([
    [2, 8],
    [8, 2],
    [5, 5],
    [0.15, 0.15],
    [1, 1],
  ])('Beta(%f, %f) has the mean a/(a+b) and variance ab/((a+b)^2 (a+b+1))', (a, b) => {
    const rng = new Rng(11);
    const { mean, variance } = moments(() => sampleBeta(rng, a, b), 40_000);
    const s = a + b;
    expect(mean).toBeCloseTo(a / s, 2);
    expect(variance).toBeCloseTo((a * b) / (s * s * (s + 1)), 2);
  });

  it.each([0.3, 1, 4.5])('Gamma(%f) has mean and variance equal to its shape', (shape) => {
    const rng = new Rng(5);
    const { mean, variance } = moments(() => sampleGamma(rng, shape), 40_000);
    expect(mean).toBeCloseTo(shape, 1);
    expect(Math.abs(variance - shape)).toBeLessThan(0.06 * Math.max(1, shape));
  });

  it('draws in [0, 1], the same sequence from the same seed, and refuses a bad shape', () => {
    const a = new Rng(3);
    const b = new Rng(3);
    for (let i = 0; i < 200; i++) {
      const x = sampleBeta(a, 0.15, 0.15);
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThanOrEqual(1);
      expect(sampleBeta(b, 0.15, 0.15)).toBe(x);
    }
    expect(() => sampleGamma(new Rng(1), 0)).toThrow('gamma shape must be > 0, got 0');
  });
});
