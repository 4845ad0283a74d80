import { describe, expect, it } from 'vitest';
import { dcl } from './dcl';
import { dclw } from './dclw';
import {
  type Matrix,
  cosine,
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

/** w_i = 2 - N softmax_j( cos(views[0]_j, views[1]_j) / sigma )_i, with plain loops. */
function vmfWeights(views: Matrix[], sigma: number): number[] {
  const scores = views[0].map((row, j) => cosine(row, views[1][j]) / sigma);
  const logNormaliser = logSumExp(scores);
  return scores.map((s) => 2 - scores.length * Math.exp(s - logNormaliser));
}

/** (1/2N) sum_i [ -w_i Z_i.Z_p(i)/tau + LSE_{k not in {i, p(i)}} Z_i.Z_k/tau ] with the weights given as constants. */
function weightedDclReference(views: Matrix[], tau: number, weights: number[]): number {
  const n = views[0].length;
  const rows = [...views[0], ...views[1]].map(normRow);
  let total = 0;
  for (let i = 0; i < 2 * n; i++) {
    const positive = (i + n) % (2 * n);
    const negatives = rows.flatMap((row, k) => (k === i || k === positive ? [] : [dot(rows[i], row) / tau]));
    total += (-weights[i % n] * dot(rows[i], rows[positive])) / tau + logSumExp(negatives);
  }
  return total / (2 * n);
}

const dclwReference = (views: Matrix[], tau: number, sigma: number) => weightedDclReference(views, tau, vmfWeights(views, sigma));

function expectGradsMatch(actual: Matrix[], expected: Matrix[], tol = 1e-3): void {
  actual.forEach((view, v) => view.forEach((row, r) => row.forEach((x, c) => expectClose(x, expected[v][r][c], tol))));
}

const defaultLoss = () => dclw.create({ tau: 0.1, sigma: 0.5 });

describe('dclw', () => {
  it('has the defaults from losses.md and rejects the wrong number of views or a single instance', () => {
    expect(dclw.params.tau.default).toBe(0.1);
    expect(dclw.params.sigma.default).toBe(0.5);
    expect(() => lossValue(defaultLoss(), randomViews(1, 3, 4, 2))).toThrow(/dclw.*exactly 2 views, got 3/);
    expect(() => lossValue(defaultLoss(), randomViews(1, 2, 1, 2))).toThrow(/dclw.*at least 2 instances/);
  });

  it('createLoss rejects an out-of-range sigma, naming the param and its range', async () => {
    const { createLoss } = await import('./index');
    expect(() => createLoss('dclw', { sigma: 0 })).toThrow(/dclw.*sigma must be in \[0.01, 10\], got 0/);
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

  it('matches the loop reference; the gradient treats the weights as constants', () => {
    for (const [seed, n, d, tau, sigma] of [
      [10, 4, 3, 0.5, 0.5],
      [11, 3, 2, 1, 0.2],
      [12, 2, 1, 0.3, 2],
    ]) {
      const views = randomViews(seed, 2, n, d);
      const { value, grads } = valueAndGrads(dclw.create({ tau, sigma }), views);
      expectClose(value, dclwReference(views, tau, sigma));
      // Weights frozen at their value for these views: the numerical gradient holds them fixed.
      const frozen = vmfWeights(views, sigma);
      expectGradsMatch(grads, numericalGrad((w) => weightedDclReference(w, tau, frozen), views));
    }
  });

  it('is invariant to permuting instances, scaling a row, and swapping the views', () => {
    const views = randomViews(20, 2, 5, 3);
    const loss = dclw.create({ tau: 0.3, sigma: 0.4 });
    const base = lossValue(loss, views);
    expectClose(lossValue(loss, permuteRows(views, [3, 0, 4, 1, 2])), base);
    const scaledRow = views.map((view, v) => view.map((row, i) => (i === 2 - v ? row.map((x) => 4.5 * x) : row)));
    expectClose(lossValue(loss, scaledRow), base);
    expectClose(lossValue(loss, [views[1], views[0]]), base);
  });

  it('gives the closed-form values', () => {
    // Equal positive cosines give uniform softmax weights 1/N, so w = 1 and dclw = dcl.
    const identical = randomViews(40, 1, 5, 3)[0];
    expectClose(lossValue(defaultLoss(), [identical, identical]), lossValue(dcl.create({ tau: 0.1 }), [identical, identical]));
    // N = D = 2, views[0] = (e1, e2), views[1] = (e1, e1): c = (1, 0), so w_0 = 2 - 2 e^{1/s} / (e^{1/s} + 1)
    // = 2 / (e^{1/s} + 1). Stacked rows (e1, e2, e1, e1):
    //   rows 0 and 2 (instance 0): positive cos 1, negatives cos (0, 1): -w_0/tau + log(1 + e^{1/tau}) each;
    //   row 1: positive cos 0, negatives (0, 0): log 2;   row 3: positive cos 0, negatives (1, 1): log 2 + 1/tau.
    for (const [tau, sigma] of [
      [0.1, 0.5],
      [0.5, 2],
    ]) {
      const w0 = 2 / (Math.exp(1 / sigma) + 1);
      const expected = (2 * (-w0 / tau + Math.log(1 + Math.exp(1 / tau))) + 2 * Math.log(2) + 1 / tau) / 4;
      const views = [[[2, 0], [0, 0.5]], [[1, 0], [3, 0]]];
      expectClose(lossValue(dclw.create({ tau, sigma }), views), expected);
    }
  });

  it('leaks no tensors on compute or over 100 training steps, and training lowers the loss', () => {
    expectNoLeakOnCompute(defaultLoss(), randomViews(30, 2, 4, 3));
    const { first, last } = expectNoLeakOverTraining(dclw.create({ tau: 0.5, sigma: 0.5 }), { V: 2, N: 6, D: 3 });
    expect(last).toBeLessThan(first);
  });
});
