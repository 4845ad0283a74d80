import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { ntxent, stopGradient } from './ntxent';
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
 * Mean over view pairs (a < b) of (1/2N) sum_i [ -Z_i.Z_p(i)/tau + LSE_{k != i} Z_i.Z_k/tau ],
 * Z = the 2N unit rows of views a and b, with plain loops.
 */
function ntxentReference(views: Matrix[], tau: number): number {
  const pairLosses: number[] = [];
  for (let a = 0; a < views.length; a++) {
    for (let b = a + 1; b < views.length; b++) {
      const rows = [...views[a], ...views[b]].map(normRow);
      const n = views[a].length;
      let total = 0;
      for (let i = 0; i < 2 * n; i++) {
        const others = rows.flatMap((row, k) => (k === i ? [] : [dot(rows[i], row) / tau]));
        total += -dot(rows[i], rows[(i + n) % (2 * n)]) / tau + logSumExp(others);
      }
      pairLosses.push(total / (2 * n));
    }
  }
  return pairLosses.reduce((s, x) => s + x, 0) / pairLosses.length;
}

function expectGradsMatch(actual: Matrix[], expected: Matrix[], tol = 1e-3): void {
  actual.forEach((view, v) => view.forEach((row, r) => row.forEach((x, c) => expectClose(x, expected[v][r][c], tol))));
}

const defaultLoss = () => ntxent.create({ tau: 0.5 });
// Rows scaled by 3 so the closed forms also check that the loss normalises its inputs.
const scaledIdentity = (n: number): Matrix => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, k) => (i === k ? 3 : 0)));

describe('ntxent', () => {
  it('has the default from losses.md and rejects fewer than 2 views', () => {
    expect(ntxent.params.tau.default).toBe(0.5);
    expect(() => lossValue(defaultLoss(), randomViews(1, 1, 4, 2))).toThrow(/at least 2 views, got 1/);
    expect(() => lossValue(defaultLoss(), [randomViews(1, 1, 4, 2)[0], randomViews(2, 1, 3, 2)[0]])).toThrow(/same shape; view 0 is \[4,2\], view 1 is \[3,2\]/);
  });

  it('createLoss rejects an out-of-range tau, naming the param and its range', async () => {
    const { createLoss } = await import('./index');
    expect(() => createLoss('ntxent', { tau: 0 })).toThrow(/ntxent.*tau must be in \[0.01, 10\], got 0/);
    expect(() => createLoss('ntxent', { tau: 11 })).toThrow(/tau must be in \[0.01, 10\], got 11/);
  });

  it('is finite with finite gradients on random, N = 2, D = 1, identical and zero-row inputs', () => {
    const zeroRow = randomViews(3, 3, 4, 3);
    zeroRow[0][1] = [0, 0, 0];
    zeroRow[2][3] = [0, 0, 0];
    const identical = randomViews(5, 1, 4, 3)[0];
    const cases: Matrix[][] = [randomViews(2, 2, 5, 3), randomViews(6, 2, 2, 3), randomViews(7, 3, 4, 1), [identical, identical, identical], zeroRow];
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
      [13, 2, 2, 1, 0.7],
    ]) {
      const views = randomViews(seed, v, n, d);
      const { value, grads } = valueAndGrads(ntxent.create({ tau }), views);
      expectClose(value, ntxentReference(views, tau));
      expectGradsMatch(grads, numericalGrad((w) => ntxentReference(w, tau), views));
    }
    // A small tau makes the logits large; the value must still match.
    const views = randomViews(14, 3, 6, 4);
    expectClose(lossValue(ntxent.create({ tau: 0.05 }), views), ntxentReference(views, 0.05));
  });

  it('is invariant to permuting instances, scaling a row, and reordering the views', () => {
    const views = randomViews(20, 3, 5, 3);
    const loss = ntxent.create({ tau: 0.3 });
    const base = lossValue(loss, views);
    expectClose(lossValue(loss, permuteRows(views, [3, 0, 4, 1, 2])), base);
    const scaledRow = views.map((view, v) => view.map((row, i) => (i === 2 - v ? row.map((x) => 4.5 * x) : row)));
    expectClose(lossValue(loss, scaledRow), base);
    expectClose(lossValue(loss, [views[2], views[0], views[1]]), base);
  });

  it('gives the closed-form values', () => {
    for (const tau of [0.5, 0.1]) {
      const loss = ntxent.create({ tau });
      for (const n of [2, 3, 5]) {
        // Identical, mutually orthogonal views (N = D): each anchor has its positive at 1/tau and
        // 2N - 2 negatives at 0, so l = -1/tau + log(exp(1/tau) + 2N - 2) = log(1 + (2N-2) exp(-1/tau)).
        // Every view pair is the same, so V = 3 gives the same value.
        const identity = scaledIdentity(n);
        const expected = Math.log(1 + (2 * n - 2) * Math.exp(-1 / tau));
        expectClose(lossValue(loss, [identity, identity]), expected);
        expectClose(lossValue(loss, [identity, identity, identity]), expected);
      }
    }
    // Fully collapsed batch (every row the same direction): all 2N - 1 logits equal, l = log(2N - 1).
    const collapsed = [[[1, 1], [2, 2], [0.5, 0.5]], [[3, 3], [1, 1], [1, 1]]];
    expectClose(lossValue(defaultLoss(), collapsed), Math.log(5));
  });

  it('leaks no tensors on compute or over 100 training steps, and training lowers the loss', () => {
    expectNoLeakOnCompute(defaultLoss(), randomViews(30, 3, 4, 3));
    const { first, last } = expectNoLeakOverTraining(defaultLoss(), { V: 3, N: 6, D: 3 });
    expect(last).toBeLessThan(first);
  });

  it('stopGradient keeps the value and blocks the gradient', () => {
    const gradient = tf.tidy(() => {
      const x = tf.tensor1d([3, -4]);
      // d/dx sum(x * sg(x)) = sg(x) = x, whereas without stopGradient it would be 2x.
      return tf.grad((z: tf.Tensor) => tf.sum(tf.mul(z, stopGradient(z))))(x).arraySync();
    });
    expect(gradient).toEqual([3, -4]);
  });
});
