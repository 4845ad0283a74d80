import { Rng } from '../nn/random';

export interface KmeansResult {
  /** Cluster of every point, 0..k-1. */
  assignments: Int32Array;
  /** k x d centroids, row-major. */
  centroids: Float64Array;
  /** Sum of squared distances of the points to their centroids. */
  inertia: number;
  /** Lloyd iterations run (the last one changed no assignment, unless maxIterations stopped it). */
  iterations: number;
}

export interface KmeansOptions {
  /** Seed of the k-means++ initialisation: the same points and seed give the same clustering. */
  seed: number;
  /** Cap on the Lloyd iterations (default 50). */
  maxIterations?: number;
}

/**
 * Seeded k-means on `n` points of dimension `d` (row-major `points`), in float64 on the CPU so the result is the
 * same on every backend:
 *
 * 1. k-means++ initialisation: the first centre is a uniformly drawn point; each next one is point i with
 *    probability D(i)^2 / sum_j D(j)^2, D(i) = the distance from i to its nearest centre so far.
 * 2. Lloyd iterations: assign every point to its nearest centroid (ties to the lower index), move every centroid
 *    to the mean of its points; a centroid left without points moves to the point farthest from its own
 *    centroid. Stops when no assignment changes, or after maxIterations.
 */
export function kmeans(
  points: ArrayLike<number>,
  n: number,
  d: number,
  k: number,
  options: KmeansOptions,
): KmeansResult {
  if (!Number.isInteger(k) || k < 1) throw new Error(`kmeans: k must be a positive integer, got ${k}`);
  if (points.length !== n * d)
    throw new Error(`kmeans: ${points.length} values do not make ${n} points of dimension ${d}`);
  if (n < k) throw new Error(`kmeans: ${n} points cannot fill ${k} clusters; lower the number of clusters`);
  const maxIterations = options.maxIterations ?? 50;
  const rng = new Rng(options.seed);
  const centroids = new Float64Array(k * d);
  const squaredDistance = (i: number, c: number): number => {
    let sum = 0;
    for (let j = 0; j < d; j++) {
      const diff = points[i * d + j] - centroids[c * d + j];
      sum += diff * diff;
    }
    return sum;
  };
  const setCentre = (c: number, i: number): void => {
    for (let j = 0; j < d; j++) centroids[c * d + j] = points[i * d + j];
  };

  // k-means++
  setCentre(0, rng.int(n));
  const nearest = new Float64Array(n).fill(Infinity);
  for (let c = 1; c < k; c++) {
    let total = 0;
    for (let i = 0; i < n; i++) {
      nearest[i] = Math.min(nearest[i], squaredDistance(i, c - 1));
      total += nearest[i];
    }
    let chosen = n - 1;
    if (total > 0) {
      let target = rng.next() * total;
      for (let i = 0; i < n; i++) {
        target -= nearest[i];
        if (target < 0) {
          chosen = i;
          break;
        }
      }
    } else {
      chosen = rng.int(n); // every point sits on a centre already: any point will do
    }
    setCentre(c, chosen);
  }

  const assignments = new Int32Array(n).fill(-1);
  const distances = new Float64Array(n);
  let iterations = 0;
  for (let iteration = 0; iteration < maxIterations; iteration++) {
    iterations = iteration + 1;
    let changed = false;
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bestDistance = squaredDistance(i, 0);
      for (let c = 1; c < k; c++) {
        const distance = squaredDistance(i, c);
        if (distance < bestDistance) {
          best = c;
          bestDistance = distance;
        }
      }
      distances[i] = bestDistance;
      if (assignments[i] !== best) {
        assignments[i] = best;
        changed = true;
      }
    }
    if (!changed) break;
    const counts = new Float64Array(k);
    centroids.fill(0);
    for (let i = 0; i < n; i++) {
      const c = assignments[i];
      counts[c] += 1;
      for (let j = 0; j < d; j++) centroids[c * d + j] += points[i * d + j];
    }
    for (let c = 0; c < k; c++) {
      if (counts[c] > 0) {
        for (let j = 0; j < d; j++) centroids[c * d + j] /= counts[c];
        continue;
      }
      let farthest = 0;
      for (let i = 1; i < n; i++) if (distances[i] > distances[farthest]) farthest = i;
      setCentre(c, farthest);
      distances[farthest] = 0;
    }
  }
  let inertia = 0;
  for (let i = 0; i < n; i++) inertia += squaredDistance(i, assignments[i]);
  return { assignments, centroids, inertia, iterations };
}
