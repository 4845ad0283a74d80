import { LOSS_CATALOG } from './catalog';
import { describe, expect, it } from 'vitest';
import { createDcl } from './dcl';
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

const defaultLoss = () => createDcl({ tau: 0.1 });

describe('dcl', () => {
  it('has the default from docs/losses.md and rejects the wrong number of views or a single instance', () => {
    expect(LOSS_CATALOG.dcl.params.tau.default).toBe(0.1);
    expect(() => lossValue(defaultLoss(), randomViews(1, 3, 4, 2))).toThrow(/exactly 2 views, got 3/);
    expect(() => lossValue(defaultLoss(), randomViews(1, 2, 1, 2))).toThrow(
      /at least 2 instances per batch, got 1/,
    );
  });

  it('createLoss rejects an out-of-range tau, naming the param and its range', async () => {
    await checkParamRangeError('dcl', 'tau', 0.001, '[0.01, 10]');
  });

  it('is finite with finite gradients on random, N = 2, D = 1, identical and zero-row inputs', () => {
    checkFiniteOnEdgeCases(defaultLoss, { V: 2 });
  });

  it('matches the loop reference in value and the numerical gradient of the reference', () => {
    for (const [seed, n, d, tau] of [
      [10, 4, 3, 0.5],
      [11, 3, 2, 1],
      [12, 2, 1, 0.3],
    ]) {
      expectMatchesReference(createDcl({ tau }), randomViews(seed, 2, n, d), (w) => dclReference(w, tau));
    }
    const views = randomViews(13, 2, 6, 4);
    expectClose(lossValue(defaultLoss(), views), dclReference(views, 0.1));
  });

  it('is invariant to permuting instances, scaling a row, and swapping the views', () => {
    checkInvariances(createDcl({ tau: 0.3 }), randomViews(20, 2, 5, 3), {
      scaleRows: true,
      viewOrder: [1, 0],
    });
  });

  it('gives the closed-form values', () => {
    for (const tau of [0.1, 0.5]) {
      const loss = createDcl({ tau });
      for (const n of [2, 3, 5]) {
        // Identical orthogonal views (N = D): positive at 1/tau, the 2N - 2 negatives at 0 and no
        // positive in the denominator: l = -1/tau + log(2N - 2), negative when tau is small.
        const identity = scaledIdentity(n);
        expectClose(lossValue(loss, [identity, identity]), -1 / tau + Math.log(2 * n - 2));
      }
      // Collapsed batch (all rows one direction): every logit is 1/tau, l = -1/tau + 1/tau + log(2N - 2).
      expectClose(
        lossValue(loss, [
          [
            [1, 1],
            [2, 2],
            [1, 1],
          ],
          [
            [3, 3],
            [1, 1],
            [5, 5],
          ],
        ]),
        Math.log(4),
      );
    }
  });

  it('leaks no tensors on compute or over 100 training steps, and training lowers the loss', () => {
    checkNoLeaksAndTraining(defaultLoss(), { V: 2, trained: createDcl({ tau: 0.5 }) });
  });
});
