import { LOSS_CATALOG } from './catalog';
import { describe, expect, it } from 'vitest';
import { type VicregParams, createVicreg } from './vicreg';
import {
  type Matrix,
  checkFiniteOnEdgeCases,
  checkInvariances,
  checkNoLeaksAndTraining,
  checkParamRangeError,
  expectClose,
  expectMatchesReference,
  lossValue,
  mean,
  randomViews,
} from './testing';

/** Unbiased covariance matrix C = (z - mean)^T (z - mean) / (N - 1), with plain loops. */
function covarianceReference(z: Matrix): Matrix {
  const n = z.length;
  const d = z[0].length;
  const columnMeans = Array.from({ length: d }, (_, k) => mean(z.map((row) => row[k])));
  return Array.from({ length: d }, (_, k) =>
    Array.from({ length: d }, (_, l) => {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += (z[i][k] - columnMeans[k]) * (z[i][l] - columnMeans[l]);
      return sum / (n - 1);
    }),
  );
}

/** L = sim * inv + var * (hinge(z1) + hinge(z2)) / 2 + cov * (offdiag(z1) + offdiag(z2)), as in docs/losses.md. */
function vicregReference(views: Matrix[], params: VicregParams): number {
  const [first, second] = views;
  const n = first.length;
  const d = first[0].length;
  let invariance = 0;
  for (let i = 0; i < n; i++)
    for (let k = 0; k < d; k++) invariance += (first[i][k] - second[i][k]) ** 2 / (n * d);
  let varianceTerm = 0;
  let covarianceTerm = 0;
  for (const z of views) {
    const c = covarianceReference(z);
    for (let k = 0; k < d; k++) {
      varianceTerm += Math.max(0, 1 - Math.sqrt(c[k][k] + 1e-4)) / d / 2;
      for (let l = 0; l < d; l++) if (k !== l) covarianceTerm += c[k][l] ** 2 / d;
    }
  }
  return params.sim * invariance + params.var * varianceTerm + params.cov * covarianceTerm;
}

const DEFAULTS: VicregParams = { sim: 25, var: 25, cov: 1 };
const scaled = (views: Matrix[], factor: number): Matrix[] =>
  views.map((v) => v.map((row) => row.map((x) => factor * x)));

// Columns of this 4 x 2 matrix have mean 0, are orthogonal, and each has sum of squares 4.
const HADAMARD: Matrix = [
  [1, 1],
  [1, -1],
  [-1, 1],
  [-1, -1],
];

describe('vicreg', () => {
  it('has the defaults from docs/losses.md and rejects bad view counts and N = 1 with clear errors', () => {
    expect([
      LOSS_CATALOG.vicreg.params.sim.default,
      LOSS_CATALOG.vicreg.params.var.default,
      LOSS_CATALOG.vicreg.params.cov.default,
    ]).toEqual([25, 25, 1]);
    expect(() => lossValue(createVicreg(DEFAULTS), randomViews(1, 1, 4, 2))).toThrow(
      /exactly 2 views, got 1/,
    );
    expect(() => lossValue(createVicreg(DEFAULTS), randomViews(1, 2, 1, 2))).toThrow(
      /at least 2 instances.*got 1/,
    );
  });

  it('createLoss rejects an out-of-range weight, naming the param and its range', async () => {
    await checkParamRangeError('vicreg', 'cov', -0.5, '[0, 1000]');
  });

  it('is finite with finite gradients on random, N = 2, D = 1, identical, zero-row and all-zero inputs', () => {
    // All-zero views have zero variance everywhere: std = sqrt(0 + 1e-4) keeps the gradient of the square root finite.
    const allZero = [HADAMARD.map(() => [0, 0]), HADAMARD.map(() => [0, 0])];
    checkFiniteOnEdgeCases(() => createVicreg(DEFAULTS), {
      V: 2,
      extraCases: [randomViews(8, 2, 2, 1), allZero],
    });
  });

  it('matches the loop reference in value and the numerical gradient of the reference', () => {
    // Scale 0.3 keeps every std below 1 (variance hinge active); scale 3 keeps every std above 1 (inactive).
    const cases: [Matrix[], VicregParams][] = [
      [scaled(randomViews(10, 2, 4, 3), 0.3), DEFAULTS],
      [scaled(randomViews(11, 2, 5, 2), 3), { sim: 2, var: 3, cov: 0.5 }],
      [scaled(randomViews(12, 2, 3, 1), 0.3), DEFAULTS],
    ];
    for (const [views, params] of cases)
      expectMatchesReference(createVicreg(params), views, (v) => vicregReference(v, params));
  });

  it('is invariant to permuting instances, swapping the views and a shift shared by both views', () => {
    const views = randomViews(20, 2, 5, 3);
    const loss = createVicreg(DEFAULTS);
    const base = checkInvariances(loss, views, { viewOrder: [1, 0] });
    // Every term sees either z1 - z2 or centred columns, so adding one vector b to every row of both views changes nothing.
    const shift = [2, -1, 0.5];
    expectClose(
      lossValue(
        loss,
        views.map((view) => view.map((row) => row.map((x, k) => x + shift[k]))),
      ),
      base,
    );
    // No row normalisation: scaling one instance's row changes the loss.
    const scaledRow = views.map((view) => view.map((row, i) => (i === 0 ? row.map((x) => 5 * x) : row)));
    expect(Math.abs(lossValue(loss, scaledRow) - base)).toBeGreaterThan(1e-2);
  });

  it('gives the closed-form values', () => {
    const loss = createVicreg(DEFAULTS);
    // All-zero views: inv = 0, cov = 0, every std = sqrt(1e-4) = 0.01, so L = var_w * (1 - 0.01) = 24.75.
    const zeros = HADAMARD.map(() => [0, 0, 0]);
    expectClose(lossValue(loss, [zeros, zeros]), 24.75);
    // z1 = 0.5 * HADAMARD, z2 = z1 + 0.5: inv = 0.25; both views have unbiased variance 4 * 0.25 / 3 = 1/3
    // per column (the shift does not change it) and orthogonal columns (cov = 0).
    const first = HADAMARD.map((row) => row.map((x) => 0.5 * x));
    const second = first.map((row) => row.map((x) => x + 0.5));
    expectClose(lossValue(loss, [first, second]), 25 * 0.25 + 25 * (1 - Math.sqrt(1 / 3 + 1e-4)));
    // Two identical columns [1, 1, -1, -1]: C = (4/3) [[1, 1], [1, 1]], std = sqrt(4/3 + 1e-4) > 1 so the hinge
    // is 0, and cov(z) = 2 * (4/3)^2 / D = 16/9 per view; identical views give inv = 0. L = cov_w * 32/9.
    const duplicated: Matrix = [
      [1, 1],
      [1, 1],
      [-1, -1],
      [-1, -1],
    ];
    expectClose(lossValue(loss, [duplicated, duplicated]), 32 / 9);
  });

  it('leaks no tensors on compute or over 100 training steps, and training lowers the loss', () => {
    // The harness uses plain SGD with lr 0.05, which the default weights (25, 25, 1) overshoot; the same
    // ratios scaled by 1/25 train stably.
    checkNoLeaksAndTraining(createVicreg(DEFAULTS), {
      V: 2,
      trained: createVicreg({ sim: 1, var: 1, cov: 0.04 }),
    });
  });
});
