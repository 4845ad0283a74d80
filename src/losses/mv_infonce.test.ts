import { LOSS_CATALOG } from './catalog';
import { describe, expect, it } from 'vitest';
import { createMvInfonce } from './mv_infonce';
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
 * mean_i ( -log sum_{l != l'} exp S(U_il, U_il') + log sum_l sum_{(j, m) != (i, l)} exp S(U_il, U_jm) ),
 * S(a, b) = a.b / tau, with plain loops.
 */
function mvInfonceReference(views: Matrix[], tau: number): number {
  const units = views.map((view) => view.map(normRow));
  const n = views[0].length;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const positives: number[] = [];
    const all: number[] = [];
    units.forEach((view, l) => {
      units.forEach((other, m) => {
        if (m !== l) positives.push(dot(view[i], other[i]) / tau);
        other.forEach((row, j) => {
          if (j !== i || m !== l) all.push(dot(view[i], row) / tau);
        });
      });
    });
    total += -logSumExp(positives) + logSumExp(all);
  }
  return total / n;
}

const defaultLoss = () => createMvInfonce({ tau: 0.5 });

describe('mv_infonce', () => {
  it('has the default from docs/losses.md and rejects fewer than 2 views', () => {
    expect(LOSS_CATALOG.mv_infonce.params.tau.default).toBe(0.5);
    expect(() => lossValue(defaultLoss(), randomViews(1, 1, 4, 2))).toThrow(
      /mv_infonce.*at least 2 views, got 1/,
    );
  });

  it('createLoss rejects an out-of-range tau, naming the param and its range', async () => {
    await checkParamRangeError('mv_infonce', 'tau', 0, '[0.01, 10]');
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
      expectMatchesReference(createMvInfonce({ tau }), randomViews(seed, v, n, d), (w) =>
        mvInfonceReference(w, tau),
      );
    }
    // A small tau makes the logits large; log space keeps the value exact.
    const views = randomViews(14, 3, 6, 4);
    expectClose(lossValue(createMvInfonce({ tau: 0.01 }), views), mvInfonceReference(views, 0.01));
  });

  it('is invariant to permuting instances, scaling a row, and reordering the views', () => {
    checkInvariances(createMvInfonce({ tau: 0.3 }), randomViews(20, 3, 5, 3), {
      scaleRows: true,
      viewOrder: [2, 0, 1],
    });
  });

  it('gives the closed-form values', () => {
    for (const tau of [0.5, 0.1]) {
      const loss = createMvInfonce({ tau });
      for (const [v, n] of [
        [2, 3],
        [3, 2],
        [4, 4],
      ]) {
        // Identical orthogonal views (N = D): num = V(V-1) e^{1/tau}; each of the V anchors sees V - 1
        // rows at 1/tau and V(N-1) at 0, so den = V((V-1) e^{1/tau} + V(N-1)) and
        // L = log(1 + V(N-1) e^{-1/tau} / (V-1)). For V = 2 this is NT-Xent's log(1 + 2(N-1) e^{-1/tau}).
        const identity = scaledIdentity(n);
        const views = Array.from({ length: v }, () => identity);
        expectClose(lossValue(loss, views), Math.log(1 + (v * (n - 1) * Math.exp(-1 / tau)) / (v - 1)));
      }
      // Collapsed batch: num = V(V-1) e^{1/tau}, den = V(VN-1) e^{1/tau}, so L = log((VN-1)/(V-1)) (V = 3, N = 2).
      const collapsed = [
        [
          [1, 1],
          [2, 2],
        ],
        [
          [3, 3],
          [1, 1],
        ],
        [
          [1, 1],
          [4, 4],
        ],
      ];
      expectClose(lossValue(loss, collapsed), Math.log(5 / 2));
    }
  });

  it('leaks no tensors on compute or over 100 training steps, and training lowers the loss', () => {
    checkNoLeaksAndTraining(defaultLoss(), { V: 3 });
  });
});
