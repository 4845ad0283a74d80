import { LOSS_CATALOG } from './catalog';
import { describe, expect, it } from 'vitest';
import { createDcl } from './dcl';
import { createDclw } from './dclw';
import {
  type Matrix,
  checkFiniteOnEdgeCases,
  checkInvariances,
  checkNoLeaksAndTraining,
  checkParamRangeError,
  cosine,
  dot,
  expectClose,
  expectMatchesReference,
  logSumExp,
  lossValue,
  normRow,
  randomViews,
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

const dclwReference = (views: Matrix[], tau: number, sigma: number) =>
  weightedDclReference(views, tau, vmfWeights(views, sigma));

const defaultLoss = () => createDclw({ tau: 0.1, sigma: 0.5 });

describe('dclw', () => {
  it('has the defaults from docs/losses.md and rejects the wrong number of views or a single instance', () => {
    expect(LOSS_CATALOG.dclw.params.tau.default).toBe(0.1);
    expect(LOSS_CATALOG.dclw.params.sigma.default).toBe(0.5);
    expect(() => lossValue(defaultLoss(), randomViews(1, 3, 4, 2))).toThrow(/dclw.*exactly 2 views, got 3/);
    expect(() => lossValue(defaultLoss(), randomViews(1, 2, 1, 2))).toThrow(/dclw.*at least 2 instances/);
  });

  it('createLoss rejects an out-of-range sigma, naming the param and its range', async () => {
    await checkParamRangeError('dclw', 'sigma', 0, '[0.01, 10]');
  });

  it('is finite with finite gradients on random, N = 2, D = 1, identical and zero-row inputs', () => {
    checkFiniteOnEdgeCases(defaultLoss, { V: 2 });
  });

  it('matches the loop reference; the gradient treats the weights as constants', () => {
    for (const [seed, n, d, tau, sigma] of [
      [10, 4, 3, 0.5, 0.5],
      [11, 3, 2, 1, 0.2],
      [12, 2, 1, 0.3, 2],
    ]) {
      const views = randomViews(seed, 2, n, d);
      // Weights frozen at their value for these views: the numerical gradient holds them fixed.
      const frozen = vmfWeights(views, sigma);
      expectMatchesReference(createDclw({ tau, sigma }), views, (w) => dclwReference(w, tau, sigma), {
        gradientReference: (w) => weightedDclReference(w, tau, frozen),
      });
    }
  });

  it('is invariant to permuting instances, scaling a row, and swapping the views', () => {
    checkInvariances(createDclw({ tau: 0.3, sigma: 0.4 }), randomViews(20, 2, 5, 3), {
      scaleRows: true,
      viewOrder: [1, 0],
    });
  });

  it('gives the closed-form values', () => {
    // Equal positive cosines give uniform softmax weights 1/N, so w = 1 and dclw = dcl.
    const identical = randomViews(40, 1, 5, 3)[0];
    expectClose(
      lossValue(defaultLoss(), [identical, identical]),
      lossValue(createDcl({ tau: 0.1 }), [identical, identical]),
    );
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
      const views = [
        [
          [2, 0],
          [0, 0.5],
        ],
        [
          [1, 0],
          [3, 0],
        ],
      ];
      expectClose(lossValue(createDclw({ tau, sigma }), views), expected);
    }
  });

  it('leaks no tensors on compute or over 100 training steps, and training lowers the loss', () => {
    checkNoLeaksAndTraining(defaultLoss(), { V: 2, trained: createDclw({ tau: 0.5, sigma: 0.5 }) });
  });
});
