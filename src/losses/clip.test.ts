import { LOSS_CATALOG } from './catalog';
import { describe, expect, it } from 'vitest';
import { createClip } from './clip';
import { createMnr } from './mnr';
import {
  type Matrix,
  checkFiniteOnEdgeCases,
  checkInvariances,
  checkNoLeaksAndTraining,
  checkParamRangeError,
  cosine,
  expectClose,
  expectMatchesReference,
  logSumExp,
  lossValue,
  randomViews,
  scaledIdentity,
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

const defaultLoss = () => createClip({ tau: 0.07 });

describe('clip', () => {
  it('has the default from docs/losses.md and rejects the wrong number of views', () => {
    expect(LOSS_CATALOG.clip.params.tau.default).toBe(0.07);
    expect(() => lossValue(defaultLoss(), randomViews(1, 3, 4, 2))).toThrow(/exactly 2 views, got 3/);
  });

  it('createLoss rejects an out-of-range tau, naming the param and its range', async () => {
    await checkParamRangeError('clip', 'tau', 0, '[0.01, 10]');
  });

  it('is finite with finite gradients on random, N = 2, D = 1, identical and zero-row inputs', () => {
    checkFiniteOnEdgeCases(defaultLoss, { V: 2 });
  });

  it('matches the loop reference in value and the numerical gradient of the reference', () => {
    for (const [seed, n, d, tau] of [
      [10, 4, 3, 0.5],
      [11, 3, 2, 1],
      [12, 2, 1, 0.2],
    ]) {
      expectMatchesReference(createClip({ tau }), randomViews(seed, 2, n, d), (v) => clipReference(v, tau));
    }
    // The default tau = 0.07 makes the logits large; the value must still match.
    const views = randomViews(13, 2, 5, 4);
    expectClose(lossValue(defaultLoss(), views), clipReference(views, 0.07));
  });

  it('is invariant to permuting instances, scaling a row, and swapping the views', () => {
    // Symmetric in the views by construction: logits^T of (a, b) are the logits of (b, a).
    checkInvariances(createClip({ tau: 0.3 }), randomViews(20, 2, 5, 3), {
      scaleRows: true,
      viewOrder: [1, 0],
    });
  });

  it('equals the mean of the two one-directional mnr losses with scale = 1 / tau', () => {
    const views = randomViews(21, 2, 5, 3);
    const oneWay = createMnr({ scale: 1 / 0.25 });
    const expected = (lossValue(oneWay, views) + lossValue(oneWay, [views[1], views[0]])) / 2;
    expectClose(lossValue(createClip({ tau: 0.25 }), views), expected);
  });

  it('gives the closed-form values', () => {
    const tau = 0.5;
    const loss = createClip({ tau });
    for (const n of [2, 3, 5]) {
      // Identical orthogonal views: l_ii = 1/tau, l_ij = 0, so each CE = log(1 + (N-1) exp(-1/tau)) in both directions.
      // Rows scaled by 2 so the closed forms also check that the loss normalises its inputs.
      const identity = scaledIdentity(n, 2);
      expectClose(lossValue(loss, [identity, identity]), Math.log(1 + (n - 1) * Math.exp(-1 / tau)));
      // Opposite views: l_ii = -1/tau, l_ij = 0, so each CE = log(1 + (N-1) exp(1/tau)).
      const negated = identity.map((row) => row.map((x) => -x));
      expectClose(lossValue(loss, [identity, negated]), Math.log(1 + (n - 1) * Math.exp(1 / tau)));
    }
    // Views pairing each instance with the other one (N = D = 2): l_ii = 0, l_ij = 1/tau, CE = log(1 + exp(1/tau)).
    expectClose(
      lossValue(loss, [
        [
          [1, 0],
          [0, 1],
        ],
        [
          [0, 3],
          [3, 0],
        ],
      ]),
      Math.log(1 + Math.exp(1 / tau)),
    );
  });

  it('leaks no tensors on compute or over 100 training steps, and training lowers the loss', () => {
    checkNoLeaksAndTraining(defaultLoss(), { V: 2, trained: createClip({ tau: 0.5 }) });
  });
});
