// Plain-number helpers for loop-by-loop reference implementations in tests (imported only by *.test.ts files).
import { Rng } from './random';

export type Matrix = number[][];

/** V random [N, D] matrices with entries ~ N(0, 1), from a seed. */
export function randomViews(seed: number, V: number, N: number, D: number): Matrix[] {
  const rng = new Rng(seed);
  return Array.from({ length: V }, () =>
    Array.from({ length: N }, () => Array.from({ length: D }, () => rng.normal())),
  );
}

export function randomLabels(seed: number, N: number, classes: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: N }, () => rng.int(classes));
}

// ---- plain-number reference math for loop-by-loop references ----
export const dot = (a: number[], b: number[]): number => a.reduce((s, x, i) => s + x * b[i], 0);
export const normRow = (a: number[]): number[] => {
  const n = Math.max(Math.sqrt(dot(a, a)), 1e-12);
  return a.map((x) => x / n);
};
export const cosine = (a: number[], b: number[]): number => dot(normRow(a), normRow(b));
export const sqDist = (a: number[], b: number[]): number => a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0);
/** log(sum(exp(xs))) computed stably. */
export const logSumExp = (xs: number[]): number => {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
};
export const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
