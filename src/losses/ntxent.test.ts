import { LOSS_CATALOG } from './catalog';
import { describe, expect, it } from 'vitest';
import { createNtxent } from './ntxent';
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

const defaultLoss = () => createNtxent({ tau: 0.5 });

describe('ntxent', () => {
  it('has the default from docs/losses.md and rejects fewer than 2 views', () => {
    expect(LOSS_CATALOG.ntxent.params.tau.default).toBe(0.5);
    expect(() => lossValue(defaultLoss(), randomViews(1, 1, 4, 2))).toThrow(/at least 2 views, got 1/);
    expect(() => lossValue(defaultLoss(), [randomViews(1, 1, 4, 2)[0], randomViews(2, 1, 3, 2)[0]])).toThrow(
      /same shape; view 0 is \[4,2\], view 1 is \[3,2\]/,
    );
  });

  it('createLoss rejects an out-of-range tau, naming the param and its range', async () => {
    await checkParamRangeError('ntxent', 'tau', 0, '[0.01, 10]');
    await checkParamRangeError('ntxent', 'tau', 11, '[0.01, 10]');
  });

  it('is finite with finite gradients on random, N = 2, D = 1, identical and zero-row inputs', () => {
    checkFiniteOnEdgeCases(defaultLoss, { V: 3 });
  });

  it('matches the loop reference in value and the numerical gradient of the reference, for V = 2, 3, 4', () => {
    for (const [seed, v, n, d, tau] of [
      [10, 2, 4, 3, 0.5],
      [11, 3, 3, 2, 1],
      [12, 4, 2, 3, 0.2],
      [13, 2, 2, 1, 0.7],
    ]) {
      expectMatchesReference(createNtxent({ tau }), randomViews(seed, v, n, d), (w) =>
        ntxentReference(w, tau),
      );
    }
    // A small tau makes the logits large; the value must still match.
    const views = randomViews(14, 3, 6, 4);
    expectClose(lossValue(createNtxent({ tau: 0.05 }), views), ntxentReference(views, 0.05));
  });

  it('is invariant to permuting instances, scaling a row, and reordering the views', () => {
    checkInvariances(createNtxent({ tau: 0.3 }), randomViews(20, 3, 5, 3), {
      scaleRows: true,
      viewOrder: [2, 0, 1],
    });
  });

  it('gives the closed-form values', () => {
    for (const tau of [0.5, 0.1]) {
      const loss = createNtxent({ tau });
      for (const n of [2, 3, 5]) {
        // Identical, mutually orthogonal views (N = D): each anchor has its positive at 1/tau and
        // 2N - 2 negatives at 0, so l = -1/tau + log(exp(1/tau) + 2N - 2) = log(1 + (2N-2) exp(-1/tau)).
        // Every view pair is the same, so V = 3 gives the same value. Rows scaled by 3: the loss must normalise.
        const identity = scaledIdentity(n);
        const expected = Math.log(1 + (2 * n - 2) * Math.exp(-1 / tau));
        expectClose(lossValue(loss, [identity, identity]), expected);
        expectClose(lossValue(loss, [identity, identity, identity]), expected);
      }
    }
    // Fully collapsed batch (every row the same direction): all 2N - 1 logits equal, l = log(2N - 1).
    const collapsed = [
      [
        [1, 1],
        [2, 2],
        [0.5, 0.5],
      ],
      [
        [3, 3],
        [1, 1],
        [1, 1],
      ],
    ];
    expectClose(lossValue(defaultLoss(), collapsed), Math.log(5));
  });

  it('leaks no tensors on compute or over 100 training steps, and training lowers the loss', () => {
    checkNoLeaksAndTraining(defaultLoss(), { V: 3 });
  });
});
