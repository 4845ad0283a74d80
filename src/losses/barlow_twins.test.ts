import { LOSS_CATALOG } from './catalog';
import { describe, expect, it } from 'vitest';
import { createBarlowTwins } from './barlow_twins';
import {
  type Matrix,
  checkFiniteOnEdgeCases,
  checkInvariances,
  checkNoLeaksAndTraining,
  checkParamRangeError,
  expectClose,
  expectMatchesReference,
  lossValue,
  randomViews,
} from './testing';

/** Column-wise (z - mean) / sqrt(biased var + 1e-5), with plain loops. */
function standardizeReference(z: Matrix): Matrix {
  const n = z.length;
  const d = z[0].length;
  const out = z.map((row) => row.slice());
  for (let k = 0; k < d; k++) {
    let columnMean = 0;
    for (let i = 0; i < n; i++) columnMean += z[i][k] / n;
    let variance = 0;
    for (let i = 0; i < n; i++) variance += (z[i][k] - columnMean) ** 2 / n;
    for (let i = 0; i < n; i++) out[i][k] = (z[i][k] - columnMean) / Math.sqrt(variance + 1e-5);
  }
  return out;
}

/** L = sum_k (1 - c_kk)^2 + lambda * sum_{k != l} c_kl^2, c_kl = sum_i zhat1_ik zhat2_il / N. */
function barlowReference(views: Matrix[], lambda: number): number {
  const [first, second] = views.map(standardizeReference);
  const n = first.length;
  const d = first[0].length;
  let loss = 0;
  for (let k = 0; k < d; k++) {
    for (let l = 0; l < d; l++) {
      let c = 0;
      for (let i = 0; i < n; i++) c += (first[i][k] * second[i][l]) / n;
      loss += k === l ? (1 - c) ** 2 : lambda * c ** 2;
    }
  }
  return loss;
}

const DEFAULT_LAMBDA = 0.0051;
const defaultLoss = () => createBarlowTwins({ lambda: DEFAULT_LAMBDA });

// Columns of this 4 x 2 matrix have mean 0, biased variance 1, and are orthogonal (z^T z = 4 I).
const HADAMARD: Matrix = [
  [1, 1],
  [1, -1],
  [-1, 1],
  [-1, -1],
];
// Standardising divides by sqrt(1 + 1e-5), so a perfect correlation shows up as r = 1 / (1 + 1e-5).
const R = 1 / (1 + 1e-5);

describe('barlow_twins', () => {
  it('has the default from docs/losses.md and rejects the wrong number of views', () => {
    expect(LOSS_CATALOG.barlow_twins.params.lambda.default).toBe(0.0051);
    const views = randomViews(1, 3, 4, 2);
    expect(() => lossValue(defaultLoss(), views)).toThrow(/exactly 2 views, got 3/);
  });

  it('createLoss rejects an out-of-range lambda, naming the param and its range', async () => {
    await checkParamRangeError('barlow_twins', 'lambda', -1, '[0, 10]');
  });

  it('is finite with finite gradients on random, N = 2, D = 1, identical, zero-row and constant-column inputs', () => {
    const constantColumn = randomViews(4, 2, 4, 3);
    constantColumn.forEach((view) => view.forEach((row) => (row[1] = 0.5)));
    checkFiniteOnEdgeCases(defaultLoss, { V: 2, extraCases: [randomViews(8, 2, 2, 1), constantColumn] });
  });

  it('matches the loop reference in value and the numerical gradient of the reference', () => {
    for (const [seed, n, d, lambda] of [
      [10, 4, 3, DEFAULT_LAMBDA],
      [11, 6, 2, 0.7],
      [12, 2, 1, 0.3],
    ]) {
      expectMatchesReference(createBarlowTwins({ lambda }), randomViews(seed, 2, n, d), (v) =>
        barlowReference(v, lambda),
      );
    }
  });

  it('is invariant to permuting instances, swapping the views and per-column affine maps', () => {
    const views = randomViews(20, 2, 5, 3);
    const loss = createBarlowTwins({ lambda: 0.5 });
    // Swapping the views makes c into c^T, which has the same diagonal and the same off-diagonal squares.
    const base = checkInvariances(loss, views, { viewOrder: [1, 0] });
    // The column standardisation removes any positive scale and shift per column and per view
    // (exactly up to the 1e-5 in the variance).
    const affine = views.map((view, v) =>
      view.map((row) => row.map((x, k) => (0.5 + k + v) * x + 3 * k - v)),
    );
    expectClose(lossValue(loss, affine), base);
    // ... but it is not invariant to scaling one instance's row (no row normalisation).
    const scaledRow = views.map((view) => view.map((row, i) => (i === 0 ? row.map((x) => 5 * x) : row)));
    expect(Math.abs(lossValue(loss, scaledRow) - base)).toBeGreaterThan(1e-2);
  });

  it('gives the closed-form values', () => {
    // Identical views: c = r I, so L = D (1 - r)^2 (about 2e-10), the minimum.
    expectClose(lossValue(createBarlowTwins({ lambda: 0.5 }), [HADAMARD, HADAMARD]), 2 * (1 - R) ** 2, 1e-6);
    // Second view = first with its two columns swapped: c = r [[0, 1], [1, 0]], so the diagonal
    // contributes 2 * (1 - 0)^2 and the off-diagonal lambda * 2 r^2.
    const swapped = HADAMARD.map(([a, b]) => [b, a]);
    expectClose(lossValue(createBarlowTwins({ lambda: 0.5 }), [HADAMARD, swapped]), 2 + 0.5 * 2 * R ** 2);
    // D = 1, second view = -first: c = -r, L = (1 + r)^2 (about 4).
    const column: Matrix = [[1], [-1], [1], [-1]];
    const negated = column.map(([x]) => [-x]);
    expectClose(lossValue(defaultLoss(), [column, negated]), (1 + R) ** 2);
  });

  it('leaks no tensors on compute or over 100 training steps, and training lowers the loss', () => {
    checkNoLeaksAndTraining(defaultLoss(), { V: 2 });
  });
});
