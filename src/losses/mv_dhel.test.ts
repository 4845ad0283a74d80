import { describe, expect, it } from 'vitest';
import { mvDhel } from './mv_dhel';
import {
  type Matrix,
  dot,
  expectAllFinite,
  expectClose,
  expectNoLeakOnCompute,
  expectNoLeakOverTraining,
  logSumExp,
  lossValue,
  normRow,
  numericalGrad,
  permuteRows,
  randomViews,
  valueAndGrads,
} from './testing';

/**
 * mean_i ( -LSE_{l < l'} S(U_il, U_il') + sum_l LSE_{j != i} S(U_il, U_jl) ), S(a, b) = a.b / tau,
 * with plain loops.
 */
function mvDhelReference(views: Matrix[], tau: number): number {
  const units = views.map((view) => view.map(normRow));
  const n = views[0].length;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const pairLogits: number[] = [];
    let uniformity = 0;
    units.forEach((view, l) => {
      for (let m = l + 1; m < units.length; m++) pairLogits.push(dot(view[i], units[m][i]) / tau);
      uniformity += logSumExp(view.flatMap((row, j) => (j === i ? [] : [dot(view[i], row) / tau])));
    });
    total += -logSumExp(pairLogits) + uniformity;
  }
  return total / n;
}

function expectGradsMatch(actual: Matrix[], expected: Matrix[], tol = 1e-3): void {
  actual.forEach((view, v) => view.forEach((row, r) => row.forEach((x, c) => expectClose(x, expected[v][r][c], tol))));
}

const defaultLoss = () => mvDhel.create({ tau: 0.5 });
const scaledIdentity = (n: number): Matrix => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, k) => (i === k ? 3 : 0)));

describe('mv_dhel', () => {
  it('has the default from losses.md and rejects fewer than 2 views or a single instance', () => {
    expect(mvDhel.params.tau.default).toBe(0.5);
    expect(() => lossValue(defaultLoss(), randomViews(1, 1, 4, 2))).toThrow(/mv_dhel.*at least 2 views, got 1/);
    expect(() => lossValue(defaultLoss(), randomViews(1, 3, 1, 2))).toThrow(/mv_dhel.*at least 2 instances per batch, got 1/);
  });

  it('createLoss rejects an out-of-range tau, naming the param and its range', async () => {
    const { createLoss } = await import('./index');
    expect(() => createLoss('mv_dhel', { tau: 20 })).toThrow(/mv_dhel.*tau must be in \[0.01, 10\], got 20/);
  });

  it('is finite with finite gradients on random, N = 2, D = 1, identical and zero-row inputs', () => {
    const zeroRow = randomViews(3, 3, 4, 3);
    zeroRow[0][1] = [0, 0, 0];
    zeroRow[2][3] = [0, 0, 0];
    const identical = randomViews(5, 1, 4, 3)[0];
    const cases: Matrix[][] = [randomViews(2, 2, 5, 3), randomViews(6, 3, 2, 3), randomViews(7, 3, 4, 1), [identical, identical, identical], zeroRow];
    for (const views of cases) {
      const { value, grads } = valueAndGrads(defaultLoss(), views);
      expectAllFinite(value, grads);
    }
  });

  it('matches the loop reference in value and the numerical gradient of the reference, for V = 2, 3, 4', () => {
    for (const [seed, v, n, d, tau] of [
      [10, 2, 4, 3, 0.5],
      [11, 3, 3, 2, 1],
      [12, 4, 2, 3, 0.2],
      [13, 3, 2, 1, 0.7],
    ]) {
      const views = randomViews(seed, v, n, d);
      const { value, grads } = valueAndGrads(mvDhel.create({ tau }), views);
      expectClose(value, mvDhelReference(views, tau));
      expectGradsMatch(grads, numericalGrad((w) => mvDhelReference(w, tau), views));
    }
    const views = randomViews(14, 3, 6, 4);
    expectClose(lossValue(mvDhel.create({ tau: 0.01 }), views), mvDhelReference(views, 0.01));
  });

  it('is invariant to permuting instances, scaling a row, and reordering the views', () => {
    const views = randomViews(20, 3, 5, 3);
    const loss = mvDhel.create({ tau: 0.3 });
    const base = lossValue(loss, views);
    expectClose(lossValue(loss, permuteRows(views, [3, 0, 4, 1, 2])), base);
    const scaledRow = views.map((view, v) => view.map((row, i) => (i === 2 - v ? row.map((x) => 4.5 * x) : row)));
    expectClose(lossValue(loss, scaledRow), base);
    expectClose(lossValue(loss, [views[2], views[0], views[1]]), base);
  });

  it('gives the closed-form values', () => {
    for (const tau of [0.5, 0.1]) {
      const loss = mvDhel.create({ tau });
      for (const [v, n] of [
        [2, 3],
        [3, 2],
        [4, 4],
      ]) {
        // Identical orthogonal views (N = D): the V(V-1)/2 pairs all sit at 1/tau, so
        // pos = 1/tau + log(V(V-1)/2); in each view the N - 1 negatives sit at 0, so unif = V log(N - 1).
        const identity = scaledIdentity(n);
        const views = Array.from({ length: v }, () => identity);
        expectClose(lossValue(loss, views), -1 / tau - Math.log((v * (v - 1)) / 2) + v * Math.log(n - 1));
      }
      // Collapsed batch (V = 3, N = 3): pos = 1/tau + log 3, unif = 3 (1/tau + log 2), L = 2/tau - log 3 + 3 log 2.
      const collapsed = [[[1, 1], [2, 2], [1, 1]], [[3, 3], [1, 1], [1, 1]], [[1, 1], [4, 4], [2, 2]]];
      expectClose(lossValue(loss, collapsed), 2 / tau - Math.log(3) + 3 * Math.log(2));
    }
  });

  it('leaks no tensors on compute or over 100 training steps, and training lowers the loss', () => {
    expectNoLeakOnCompute(defaultLoss(), randomViews(30, 3, 4, 3));
    const { first, last } = expectNoLeakOverTraining(defaultLoss(), { V: 3, N: 6, D: 3 });
    expect(last).toBeLessThan(first);
  });
});
