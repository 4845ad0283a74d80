import { describe, expect, it } from 'vitest';
import { dcl } from './dcl';
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

/** (1/2N) sum_i [ -Z_i.Z_p(i)/tau + LSE_{k not in {i, p(i)}} Z_i.Z_k/tau ] over the 2N unit rows, with plain loops. */
function dclReference(views: Matrix[], tau: number): number {
  const n = views[0].length;
  const rows = [...views[0], ...views[1]].map(normRow);
  let total = 0;
  for (let i = 0; i < 2 * n; i++) {
    const positive = (i + n) % (2 * n);
    const negatives = rows.flatMap((row, k) => (k === i || k === positive ? [] : [dot(rows[i], row) / tau]));
    total += -dot(rows[i], rows[positive]) / tau + logSumExp(negatives);
  }
  return total / (2 * n);
}

function expectGradsMatch(actual: Matrix[], expected: Matrix[], tol = 1e-3): void {
  actual.forEach((view, v) => view.forEach((row, r) => row.forEach((x, c) => expectClose(x, expected[v][r][c], tol))));
}

const defaultLoss = () => dcl.create({ tau: 0.1 });
const scaledIdentity = (n: number): Matrix => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, k) => (i === k ? 3 : 0)));

describe('dcl', () => {
  it('has the default from losses.md and rejects the wrong number of views or a single instance', () => {
    expect(dcl.params.tau.default).toBe(0.1);
    expect(() => lossValue(defaultLoss(), randomViews(1, 3, 4, 2))).toThrow(/exactly 2 views, got 3/);
    expect(() => lossValue(defaultLoss(), randomViews(1, 2, 1, 2))).toThrow(/at least 2 instances per batch, got 1/);
  });

  it('createLoss rejects an out-of-range tau, naming the param and its range', async () => {
    const { createLoss } = await import('./index');
    expect(() => createLoss('dcl', { tau: 0.001 })).toThrow(/dcl.*tau must be in \[0.01, 10\], got 0.001/);
  });

  it('is finite with finite gradients on random, N = 2, D = 1, identical and zero-row inputs', () => {
    const zeroRow = randomViews(3, 2, 4, 3);
    zeroRow[0][1] = [0, 0, 0];
    zeroRow[1][3] = [0, 0, 0];
    const identical = randomViews(5, 1, 4, 3)[0];
    const cases: Matrix[][] = [randomViews(2, 2, 5, 3), randomViews(6, 2, 2, 3), randomViews(7, 2, 4, 1), [identical, identical], zeroRow];
    for (const views of cases) {
      const { value, grads } = valueAndGrads(defaultLoss(), views);
      expectAllFinite(value, grads);
    }
  });

  it('matches the loop reference in value and the numerical gradient of the reference', () => {
    for (const [seed, n, d, tau] of [
      [10, 4, 3, 0.5],
      [11, 3, 2, 1],
      [12, 2, 1, 0.3],
    ]) {
      const views = randomViews(seed, 2, n, d);
      const { value, grads } = valueAndGrads(dcl.create({ tau }), views);
      expectClose(value, dclReference(views, tau));
      expectGradsMatch(grads, numericalGrad((w) => dclReference(w, tau), views));
    }
    const views = randomViews(13, 2, 6, 4);
    expectClose(lossValue(defaultLoss(), views), dclReference(views, 0.1));
  });

  it('is invariant to permuting instances, scaling a row, and swapping the views', () => {
    const views = randomViews(20, 2, 5, 3);
    const loss = dcl.create({ tau: 0.3 });
    const base = lossValue(loss, views);
    expectClose(lossValue(loss, permuteRows(views, [3, 0, 4, 1, 2])), base);
    const scaledRow = views.map((view, v) => view.map((row, i) => (i === 2 - v ? row.map((x) => 4.5 * x) : row)));
    expectClose(lossValue(loss, scaledRow), base);
    expectClose(lossValue(loss, [views[1], views[0]]), base);
  });

  it('gives the closed-form values', () => {
    for (const tau of [0.1, 0.5]) {
      const loss = dcl.create({ tau });
      for (const n of [2, 3, 5]) {
        // Identical orthogonal views (N = D): positive at 1/tau, the 2N - 2 negatives at 0 and no
        // positive in the denominator: l = -1/tau + log(2N - 2), negative when tau is small.
        const identity = scaledIdentity(n);
        expectClose(lossValue(loss, [identity, identity]), -1 / tau + Math.log(2 * n - 2));
      }
      // Collapsed batch (all rows one direction): every logit is 1/tau, l = -1/tau + 1/tau + log(2N - 2).
      expectClose(lossValue(loss, [[[1, 1], [2, 2], [1, 1]], [[3, 3], [1, 1], [5, 5]]]), Math.log(4));
    }
  });

  it('leaks no tensors on compute or over 100 training steps, and training lowers the loss', () => {
    expectNoLeakOnCompute(defaultLoss(), randomViews(30, 2, 4, 3));
    const { first, last } = expectNoLeakOverTraining(dcl.create({ tau: 0.5 }), { V: 2, N: 6, D: 3 });
    expect(last).toBeLessThan(first);
  });
});
