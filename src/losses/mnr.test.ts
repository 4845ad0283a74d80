import { LOSS_CATALOG } from './catalog';
import { describe, expect, it } from 'vitest';
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

/** L = (1/N) sum_i ( LSE_j s cos(a_i, b_j) - s cos(a_i, b_i) ), with plain loops. */
function mnrReference(views: Matrix[], scale: number): number {
  const [anchors, candidates] = views;
  let total = 0;
  anchors.forEach((anchor, i) => {
    const logits = candidates.map((candidate) => scale * cosine(anchor, candidate));
    total += logSumExp(logits) - logits[i];
  });
  return total / anchors.length;
}

const defaultLoss = () => createMnr({ scale: 20 });

describe('mnr', () => {
  it('has the default from docs/losses.md and rejects the wrong number of views', () => {
    expect(LOSS_CATALOG.mnr.params.scale.default).toBe(20);
    expect(() => lossValue(defaultLoss(), randomViews(1, 1, 4, 2))).toThrow(/exactly 2 views, got 1/);
  });

  it('createLoss rejects an out-of-range scale, naming the param and its range', async () => {
    await checkParamRangeError('mnr', 'scale', 500, '[0.1, 100]');
  });

  it('is finite with finite gradients on random, N = 2, D = 1, identical and zero-row inputs', () => {
    checkFiniteOnEdgeCases(defaultLoss, { V: 2 });
  });

  it('matches the loop reference in value and the numerical gradient of the reference', () => {
    for (const [seed, n, d, scale] of [
      [10, 4, 3, 2],
      [11, 3, 2, 5],
      [12, 2, 1, 1],
    ]) {
      expectMatchesReference(createMnr({ scale }), randomViews(seed, 2, n, d), (v) => mnrReference(v, scale));
    }
    const views = randomViews(13, 2, 5, 4);
    expectClose(lossValue(defaultLoss(), views), mnrReference(views, 20));
  });

  it('is invariant to permuting instances and scaling a row', () => {
    checkInvariances(createMnr({ scale: 3 }), randomViews(20, 2, 5, 3), { scaleRows: true });
  });

  it('gives the closed-form values, including its asymmetry in the two views', () => {
    const scale = 2;
    const loss = createMnr({ scale });
    for (const n of [2, 3, 5]) {
      // Identical orthogonal views (rows scaled by 3, which normalisation removes): logit s on the
      // diagonal and 0 elsewhere, so L = log(1 + (N-1) exp(-s)).
      const identity = scaledIdentity(n);
      expectClose(lossValue(loss, [identity, identity]), Math.log(1 + (n - 1) * Math.exp(-scale)));
    }
    // Anchors [e0, e0], candidates [e0, e1]: both anchor rows have logits [s, 0]; targets are 0 and 1, so
    // L = ( log(e^s + 1) - s + log(e^s + 1) - 0 ) / 2 = log(1 + e^s) - s/2.
    const anchors: Matrix = [
      [1, 0],
      [1, 0],
    ];
    const candidates: Matrix = [
      [1, 0],
      [0, 1],
    ];
    expectClose(lossValue(loss, [anchors, candidates]), Math.log(1 + Math.exp(scale)) - scale / 2);
    // Swapped: anchors e0 and e1 see logits [s, s] and [0, 0], each CE = log 2.
    expectClose(lossValue(loss, [candidates, anchors]), Math.log(2));
  });

  it('leaks no tensors on compute or over 100 training steps, and training lowers the loss', () => {
    checkNoLeaksAndTraining(defaultLoss(), { V: 2, trained: createMnr({ scale: 2 }) });
  });
});
