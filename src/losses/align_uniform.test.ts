import { describe, expect, it } from 'vitest';
import { alignUniform } from './align_uniform';
import {
  type Matrix,
  expectAllFinite,
  expectClose,
  expectNoLeakOnCompute,
  expectNoLeakOverTraining,
  lossValue,
  mean,
  normRow,
  numericalGrad,
  permuteRows,
  randomViews,
  sqDist,
  valueAndGrads,
} from './testing';

interface Params extends Record<string, number> {
  alpha: number;
  t: number;
  lambda: number;
}

/** log( mean_{i < j} exp(-t ||x_i - x_j||^2) ), with plain loops. */
function uniformityReference(rows: number[][], t: number): number {
  const terms: number[] = [];
  for (let i = 0; i < rows.length; i++) for (let j = i + 1; j < rows.length; j++) terms.push(Math.exp(-t * sqDist(rows[i], rows[j])));
  return Math.log(mean(terms));
}

/** mean_i ||a_i - b_i||^alpha + lambda (unif(a) + unif(b)) / 2 on the unit rows a, b, with plain loops. */
function alignUniformReference(views: Matrix[], { alpha, t, lambda }: Params): number {
  const [a, b] = views.map((view) => view.map(normRow));
  const alignment = mean(a.map((row, i) => sqDist(row, b[i]) ** (alpha / 2)));
  return alignment + (lambda * (uniformityReference(a, t) + uniformityReference(b, t))) / 2;
}

function expectGradsMatch(actual: Matrix[], expected: Matrix[], tol = 1e-3): void {
  actual.forEach((view, v) => view.forEach((row, r) => row.forEach((x, c) => expectClose(x, expected[v][r][c], tol))));
}

const defaults: Params = { alpha: 2, t: 2, lambda: 1 };
const defaultLoss = () => alignUniform.create(defaults);
const scaledIdentity = (n: number): Matrix => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, k) => (i === k ? 3 : 0)));

describe('align_uniform', () => {
  it('has the defaults from losses.md and rejects the wrong number of views or a single instance', () => {
    expect([alignUniform.params.alpha.default, alignUniform.params.t.default, alignUniform.params.lambda.default]).toEqual([2, 2, 1]);
    expect(() => lossValue(defaultLoss(), randomViews(1, 3, 4, 2))).toThrow(/align_uniform.*exactly 2 views, got 3/);
    expect(() => lossValue(defaultLoss(), randomViews(1, 2, 1, 2))).toThrow(/align_uniform.*at least 2 instances per batch, got 1/);
  });

  it('createLoss rejects out-of-range alpha and t, naming the param and its range', async () => {
    const { createLoss } = await import('./index');
    expect(() => createLoss('align_uniform', { alpha: 0.5 })).toThrow(/align_uniform.*alpha must be in \[1, 4\], got 0.5/);
    expect(() => createLoss('align_uniform', { t: 0 })).toThrow(/align_uniform.*t must be in \(0, 10\], got 0/);
    expect(() => createLoss('align_uniform', { lambda: -1 })).toThrow(/lambda must be in \[0, 100\], got -1/);
  });

  it('is finite with finite gradients on random, N = 2, D = 1, identical and zero-row inputs, for alpha = 2 and 1', () => {
    const zeroRow = randomViews(3, 2, 4, 3);
    zeroRow[0][1] = [0, 0, 0];
    zeroRow[1][3] = [0, 0, 0];
    const identical = randomViews(5, 1, 4, 3)[0];
    const cases: Matrix[][] = [randomViews(2, 2, 5, 3), randomViews(6, 2, 2, 3), randomViews(7, 2, 4, 1), [identical, identical], zeroRow];
    for (const params of [defaults, { alpha: 1, t: 2, lambda: 1 }]) {
      for (const views of cases) {
        const { value, grads } = valueAndGrads(alignUniform.create(params), views);
        expectAllFinite(value, grads);
      }
    }
  });

  it('matches the loop reference in value and the numerical gradient of the reference', () => {
    const cases: [number, number, number, Params][] = [
      [10, 4, 3, defaults],
      [11, 3, 2, { alpha: 1, t: 3, lambda: 0.5 }],
      [12, 2, 1, { alpha: 3, t: 1, lambda: 2 }],
      [13, 5, 4, { alpha: 2, t: 0.5, lambda: 0 }],
    ];
    for (const [seed, n, d, params] of cases) {
      const views = randomViews(seed, 2, n, d);
      const { value, grads } = valueAndGrads(alignUniform.create(params), views);
      expectClose(value, alignUniformReference(views, params));
      expectGradsMatch(grads, numericalGrad((w) => alignUniformReference(w, params), views));
    }
    // A zero row is normalised to the origin: its distance to a unit row is 1, not 2 - 2 cos = 2.
    const zeroRow = randomViews(14, 2, 4, 3);
    zeroRow[1][2] = [0, 0, 0];
    expectClose(lossValue(defaultLoss(), zeroRow), alignUniformReference(zeroRow, defaults));
  });

  it('is invariant to permuting instances, scaling a row, and swapping the views', () => {
    const views = randomViews(20, 2, 5, 3);
    const loss = alignUniform.create({ alpha: 1.5, t: 2, lambda: 1 });
    const base = lossValue(loss, views);
    expectClose(lossValue(loss, permuteRows(views, [3, 0, 4, 1, 2])), base);
    const scaledRow = views.map((view, v) => view.map((row, i) => (i === 2 - v ? row.map((x) => 4.5 * x) : row)));
    expectClose(lossValue(loss, scaledRow), base);
    expectClose(lossValue(loss, [views[1], views[0]]), base);
  });

  it('gives the closed-form values', () => {
    for (const params of [defaults, { alpha: 1, t: 3, lambda: 0.5 }]) {
      const { alpha, t, lambda } = params;
      const loss = alignUniform.create(params);
      for (const n of [2, 3, 5]) {
        // Orthogonal rows (N = D) are all at squared distance 2: unif = log(exp(-2t)) = -2t per view.
        // Identical views: align = 0, so L = -2 t lambda. Opposite views: ||a_i - b_i|| = 2, align = 2^alpha.
        const identity = scaledIdentity(n);
        const negated = identity.map((row) => row.map((x) => -x));
        expectClose(lossValue(loss, [identity, identity]), -2 * t * lambda);
        expectClose(lossValue(loss, [identity, negated]), 2 ** alpha - 2 * t * lambda);
      }
      // D = 1, N = 2: a = (1, -1), b = (1, 1). align = (0 + 2^alpha) / 2; unif(a) = -4t (squared distance 4),
      // unif(b) = 0 (collapsed), so L = 2^(alpha - 1) - 2 t lambda.
      expectClose(lossValue(loss, [[[2], [-1]], [[5], [0.5]]]), 2 ** (alpha - 1) - 2 * t * lambda);
    }
  });

  it('leaks no tensors on compute or over 100 training steps, and training lowers the loss', () => {
    expectNoLeakOnCompute(defaultLoss(), randomViews(30, 2, 4, 3));
    const { first, last } = expectNoLeakOverTraining(defaultLoss(), { V: 2, N: 6, D: 3 });
    expect(last).toBeLessThan(first);
  });
});
