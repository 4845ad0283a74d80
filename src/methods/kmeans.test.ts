import { describe, expect, it } from 'vitest';
import { Rng } from '../nn/random';
import { kmeans } from './kmeans';

/** `perCluster` points around each of `centres` (Gaussian noise of `spread`), shuffled; returns points and truth. */
function blobs(centres: number[][], perCluster: number, spread: number, seed: number) {
  const rng = new Rng(seed);
  const d = centres[0].length;
  const order = rng.permutation(centres.length * perCluster);
  const points = new Float32Array(order.length * d);
  const truth = new Int32Array(order.length);
  order.forEach((slot, i) => {
    const c = slot % centres.length;
    truth[i] = c;
    for (let j = 0; j < d; j++) points[i * d + j] = centres[c][j] + spread * rng.normal();
  });
  return { points, truth, n: order.length, d };
}

/** True when `a` and `b` are the same partition up to renaming the clusters. */
function samePartition(a: Int32Array, b: Int32Array): boolean {
  const forward = new Map<number, number>();
  const backward = new Map<number, number>();
  for (let i = 0; i < a.length; i++) {
    if ((forward.get(a[i]) ?? b[i]) !== b[i] || (backward.get(b[i]) ?? a[i]) !== a[i]) return false;
    forward.set(a[i], b[i]);
    backward.set(b[i], a[i]);
  }
  return true;
}

describe('kmeans', () => {
  const centres = [
    [0, 0, 0],
    [10, 0, 0],
    [0, 10, 0],
    [0, 0, 10],
    [10, 10, 10],
  ];

  it('recovers well-separated clusters exactly, with centroids at the cluster means', () => {
    const { points, truth, n, d } = blobs(centres, 40, 0.5, 1);
    for (const seed of [0, 1, 2, 3]) {
      const result = kmeans(points, n, d, 5, { seed });
      expect(samePartition(result.assignments, truth)).toBe(true);
      for (let c = 0; c < 5; c++) {
        const members = [...result.assignments.keys()].filter((i) => result.assignments[i] === c);
        for (let j = 0; j < d; j++) {
          const mean = members.reduce((s, i) => s + points[i * d + j], 0) / members.length;
          expect(result.centroids[c * d + j]).toBeCloseTo(mean, 5);
        }
      }
      // the inertia is the within-cluster sum of squares, about n * d * spread^2
      expect(result.inertia).toBeGreaterThan(0.5 * n * d * 0.25);
      expect(result.inertia).toBeLessThan(1.5 * n * d * 0.25);
    }
  });

  it('is deterministic in the seed: the same seed gives the same assignments and centroids', () => {
    const { points, n, d } = blobs(centres, 30, 4, 2); // overlapping blobs: the init matters
    const a = kmeans(points, n, d, 4, { seed: 7 });
    const b = kmeans(points, n, d, 4, { seed: 7 });
    expect(Array.from(a.assignments)).toEqual(Array.from(b.assignments));
    expect(Array.from(a.centroids)).toEqual(Array.from(b.centroids));
  });

  it('k-means++ never picks a duplicate as a new centre: three distinct positions give three exact clusters', () => {
    const points = new Float32Array([0, 0, 0, 0, 0, 0, 5, 5, 5, 5, 9, 1]);
    const result = kmeans(points, 6, 2, 3, { seed: 1 });
    expect(new Set(result.assignments).size).toBe(3);
    expect(result.inertia).toBe(0);
  });

  it('refuses more clusters than points and mismatched sizes, saying what to change', () => {
    expect(() => kmeans(new Float32Array(4), 2, 2, 3, { seed: 0 })).toThrow(
      'kmeans: 2 points cannot fill 3 clusters; lower the number of clusters',
    );
    expect(() => kmeans(new Float32Array(5), 2, 2, 2, { seed: 0 })).toThrow(
      'kmeans: 5 values do not make 2 points of dimension 2',
    );
  });
});
