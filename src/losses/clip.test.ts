import { describe, expect, it } from 'vitest';
import { clip } from './clip';
import { mnr } from './mnr';
import {
  type Matrix,
  cosine,
  expectAllFinite,
  expectClose,
  expectNoLeakOnCompute,
  expectNoLeakOverTraining,
  logSumExp,
  lossValue,
  numericalGrad,
  permuteRows,
  randomViews,
  valueAndGrads,
} from './testing';

/** L = (1/2N) sum_i [ (LSE_j l_ij - l_ii) + (LSE_j l_ji - l_ii) ], l_ij = cos(a_i, b_j) / tau, with plain loops. */
function clipReference(views: Matrix[], tau: number): number {
  const [first, second] = views;
  const n = first.length;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const row = second.map((b) => cosine(first[i], b) / tau);
    const column = first.map((a) => cosine(a, second[i]) / tau);
    total += logSumExp(row) - row[i] + logSumExp(column) - column[i];
  }
  return total / (2 * n);
}

function expectGradsMatch(actual: Matrix[], expected: Matrix[], tol = 1e-3): void {
  actual.forEach((view, v) => view.forEach((row, r) => row.forEach((x, c) => expectClose(x, expected[v][r][c], tol))));
}

const defaultLoss = () => clip.create({ tau: 0.07 });
// Rows scaled by 2 so the closed forms also check that the loss normalises its inputs.
const scaledIdentity = (n: number): Matrix => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, k) => (i === k ? 2 : 0)));

describe('clip', () => {
  it('has the default from losses.md and rejects the wrong number of views', () => {
    expect(clip.params.tau.default).toBe(0.07);
    expect(() => lossValue(defaultLoss(), randomViews(1, 3, 4, 2))).toThrow(/exactly 2 views, got 3/);
  });

  it('createLoss rejects an out-of-range tau, naming the param and its range', async () => {
    const { createLoss } = await import('./index');
    expect(() => createLoss('clip', { tau: 0 })).toThrow(/clip.*tau must be in \[0.01, 10\], got 0/);
  });

  it('is finite with finite gradients on random, N = 2, D = 1, identical and zero-row inputs', () => {
    const zeroRow = randomViews(3, 2, 4, 3);
    zeroRow[0][1] = [0, 0, 0];
    zeroRow[1][3] = [0, 0, 0];
    const identical = randomViews(5, 1, 4, 3);
    const cases: Matrix[][] = [
      randomViews(2, 2, 5, 3),
      randomViews(6, 2, 2, 3),
      randomViews(7, 2, 4, 1),
      [identical[0], identical[0]],
      zeroRow,
    ];
    for (const views of cases) {
      const { value, grads } = valueAndGrads(defaultLoss(), views);
      expectAllFinite(value, grads);
    }
  });

  it('matches the loop reference in value and the numerical gradient of the reference', () => {
    for (const [seed, n, d, tau] of [
      [10, 4, 3, 0.5],
      [11, 3, 2, 1],
      [12, 2, 1, 0.2],
    ]) {
      const views = randomViews(seed, 2, n, d);
      const { value, grads } = valueAndGrads(clip.create({ tau }), views);
      expectClose(value, clipReference(views, tau));
      expectGradsMatch(grads, numericalGrad((v) => clipReference(v, tau), views));
    }
    // The default tau = 0.07 makes the logits large; the value must still match.
    const views = randomViews(13, 2, 5, 4);
    expectClose(lossValue(defaultLoss(), views), clipReference(views, 0.07));
  });

  it('is invariant to permuting instances, scaling a row, and swapping the views', () => {
    const views = randomViews(20, 2, 5, 3);
    const loss = clip.create({ tau: 0.3 });
    const base = lossValue(loss, views);
    expectClose(lossValue(loss, permuteRows(views, [3, 0, 4, 1, 2])), base);
    const scaledRow = views.map((view, v) => view.map((row, i) => (i === 2 - v ? row.map((x) => 4.5 * x) : row)));
    expectClose(lossValue(loss, scaledRow), base);
    // Symmetric by construction: logits^T of (a, b) are the logits of (b, a).
    expectClose(lossValue(loss, [views[1], views[0]]), base);
  });

  it('equals the mean of the two one-directional mnr losses with scale = 1 / tau', () => {
    const views = randomViews(21, 2, 5, 3);
    const oneWay = mnr.create({ scale: 1 / 0.25 });
    const expected = (lossValue(oneWay, views) + lossValue(oneWay, [views[1], views[0]])) / 2;
    expectClose(lossValue(clip.create({ tau: 0.25 }), views), expected);
  });

  it('gives the closed-form values', () => {
    const tau = 0.5;
    const loss = clip.create({ tau });
    for (const n of [2, 3, 5]) {
      // Identical orthogonal views: l_ii = 1/tau, l_ij = 0, so each CE = log(1 + (N-1) exp(-1/tau)) in both directions.
      const identity = scaledIdentity(n);
      expectClose(lossValue(loss, [identity, identity]), Math.log(1 + (n - 1) * Math.exp(-1 / tau)));
      // Opposite views: l_ii = -1/tau, l_ij = 0, so each CE = log(1 + (N-1) exp(1/tau)).
      const negated = identity.map((row) => row.map((x) => -x));
      expectClose(lossValue(loss, [identity, negated]), Math.log(1 + (n - 1) * Math.exp(1 / tau)));
    }
    // Views pairing each instance with the other one (N = D = 2): l_ii = 0, l_ij = 1/tau, CE = log(1 + exp(1/tau)).
    expectClose(lossValue(loss, [[[1, 0], [0, 1]], [[0, 3], [3, 0]]]), Math.log(1 + Math.exp(1 / tau)));
  });

  it('leaks no tensors on compute or over 100 training steps, and training lowers the loss', () => {
    expectNoLeakOnCompute(defaultLoss(), randomViews(30, 2, 4, 3));
    const { first, last } = expectNoLeakOverTraining(clip.create({ tau: 0.5 }), { V: 2, N: 6, D: 3 });
    expect(last).toBeLessThan(first);
  });
});
