import { LOSS_CATALOG } from './catalog';
import { describe, expect, it } from 'vitest';
import { createMvDhel } from './mv_dhel';
import {
  type Matrix,
  checkFiniteOnEdgeCases,
  checkInvariances,
  checkNoLeaksAndTraining,
  checkParamRangeError,
  dot,
  expectClose,
  expectMatchesReference,
  logSumExp,
  lossValue,
  normRow,
  randomViews,
  scaledIdentity,
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

const defaultLoss = () => createMvDhel({ tau: 0.5 });

describe('mv_dhel', () => {
  it('has the default from docs/losses.md and rejects fewer than 2 views or a single instance', () => {
    expect(LOSS_CATALOG.mv_dhel.params.tau.default).toBe(0.5);
    expect(() => lossValue(defaultLoss(), randomViews(1, 1, 4, 2))).toThrow(
      /mv_dhel.*at least 2 views, got 1/,
    );
    expect(() => lossValue(defaultLoss(), randomViews(1, 3, 1, 2))).toThrow(
      /mv_dhel.*at least 2 instances per batch, got 1/,
    );
  });

  it('createLoss rejects an out-of-range tau, naming the param and its range', async () => {
    await checkParamRangeError('mv_dhel', 'tau', 20, '[0.01, 10]');
  });

  it('is finite with finite gradients on random, N = 2, D = 1, identical and zero-row inputs', () => {
    checkFiniteOnEdgeCases(defaultLoss, { V: 3 });
  });

  it('matches the loop reference in value and the numerical gradient of the reference, for V = 2, 3, 4', () => {
    for (const [seed, v, n, d, tau] of [
      [10, 2, 4, 3, 0.5],
      [11, 3, 3, 2, 1],
      [12, 4, 2, 3, 0.2],
      [13, 3, 2, 1, 0.7],
    ]) {
      expectMatchesReference(createMvDhel({ tau }), randomViews(seed, v, n, d), (w) =>
        mvDhelReference(w, tau),
      );
    }
    const views = randomViews(14, 3, 6, 4);
    expectClose(lossValue(createMvDhel({ tau: 0.01 }), views), mvDhelReference(views, 0.01));
  });

  it('is invariant to permuting instances, scaling a row, and reordering the views', () => {
    checkInvariances(createMvDhel({ tau: 0.3 }), randomViews(20, 3, 5, 3), {
      scaleRows: true,
      viewOrder: [2, 0, 1],
    });
  });

  it('gives the closed-form values', () => {
    for (const tau of [0.5, 0.1]) {
      const loss = createMvDhel({ tau });
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
      const collapsed = [
        [
          [1, 1],
          [2, 2],
          [1, 1],
        ],
        [
          [3, 3],
          [1, 1],
          [1, 1],
        ],
        [
          [1, 1],
          [4, 4],
          [2, 2],
        ],
      ];
      expectClose(lossValue(loss, collapsed), 2 / tau - Math.log(3) + 3 * Math.log(2));
    }
  });

  it('leaks no tensors on compute or over 100 training steps, and training lowers the loss', () => {
    checkNoLeaksAndTraining(defaultLoss(), { V: 3 });
  });
});
