import { LOSS_CATALOG } from './catalog';
import { describe, expect, it } from 'vitest';
import { createNtxent } from './ntxent';
import { createSupcon } from './supcon';
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
  mean,
  normRow,
  randomLabels,
  randomViews,
  scaledIdentity,
} from './testing';

/**
 * Mean over anchors with positives of -(1/|P(i)|) sum_{p in P(i)} ( Z_i.Z_p/tau - LSE_{a != i} Z_i.Z_a/tau ),
 * Z = the VN unit rows of all views, labels repeated per view, with plain loops.
 */
function supconReference(views: Matrix[], labels: number[], tau: number): number {
  const rows = views.flat().map(normRow);
  const rowLabels = views.flatMap(() => labels);
  const anchorLosses: number[] = [];
  rows.forEach((anchor, i) => {
    const others = rows.map((_, k) => k).filter((k) => k !== i);
    const logNormaliser = logSumExp(others.map((k) => dot(anchor, rows[k]) / tau));
    const positives = others.filter((k) => rowLabels[k] === rowLabels[i]);
    if (positives.length > 0)
      anchorLosses.push(-mean(positives.map((p) => dot(anchor, rows[p]) / tau - logNormaliser)));
  });
  return mean(anchorLosses);
}

const defaultLoss = () => createSupcon({ tau: 0.1 });

describe('supcon', () => {
  it('has the default from docs/losses.md, needs labels of shape [N] and at least 2 views', () => {
    expect(LOSS_CATALOG.supcon.params.tau.default).toBe(0.1);
    expect(LOSS_CATALOG.supcon.needsLabels).toBe(true);
    expect(() => lossValue(defaultLoss(), randomViews(1, 2, 4, 2))).toThrow(/supcon.*needs class labels/);
    expect(() => lossValue(defaultLoss(), randomViews(1, 2, 4, 2), [0, 1, 0])).toThrow(
      /labels must have shape \[4\].*got \[3\]/,
    );
    expect(() => lossValue(defaultLoss(), randomViews(1, 1, 4, 2), [0, 1, 0, 1])).toThrow(
      /at least 2 views, got 1/,
    );
  });

  it('createLoss rejects an out-of-range tau, and its module throws without labels', async () => {
    await checkParamRangeError('supcon', 'tau', -1, '[0.01, 10]');
    expect(() => lossValue(createSupcon({ tau: 0.1 }), randomViews(1, 2, 4, 2))).toThrow(
      /needs class labels/,
    );
  });

  it('is finite with finite gradients on random, N = 2, D = 1, identical and zero-row inputs', () => {
    const labels = {
      random: [0, 1, 0, 2, 1],
      twoInstances: [0, 0],
      oneDimension: [1, 0, 1, 0],
      identical: [0, 1, 2, 3],
      zeroRows: [2, 2, 1, 2],
    };
    checkFiniteOnEdgeCases(defaultLoss, { V: 3, labels });
  });

  it('matches the loop reference in value and the numerical gradient of the reference', () => {
    for (const [seed, v, n, d, tau] of [
      [10, 2, 5, 3, 0.5],
      [11, 3, 4, 2, 1],
      [12, 2, 2, 1, 0.3],
    ]) {
      const labels = randomLabels(seed, n, 2);
      expectMatchesReference(
        createSupcon({ tau }),
        randomViews(seed, v, n, d),
        (w) => supconReference(w, labels, tau),
        { labels },
      );
    }
    const views = randomViews(13, 3, 8, 4);
    const labels = randomLabels(13, 8, 3);
    expectClose(lossValue(defaultLoss(), views, labels), supconReference(views, labels, 0.1));
  });

  it('is invariant to permuting instances with their labels, scaling a row, and relabelling classes', () => {
    const views = randomViews(20, 3, 5, 3);
    const labels = [0, 1, 1, 2, 0];
    const loss = createSupcon({ tau: 0.3 });
    const base = checkInvariances(loss, views, { labels, scaleRows: true });
    expectClose(
      lossValue(
        loss,
        views,
        labels.map((y) => 7 - y),
      ),
      base,
    );
  });

  it('gives the closed-form values', () => {
    const tau = 0.5;
    const loss = createSupcon({ tau });
    // All labels distinct, V = 2: P(i) = {p(i)}, so supcon is exactly NT-Xent (on any views).
    const views = randomViews(40, 2, 5, 3);
    expectClose(lossValue(loss, views, [0, 1, 2, 3, 4]), lossValue(createNtxent({ tau }), views));
    // Identical orthogonal views, N = 4, classes (0, 0, 1, 1): A(i) has i's other view at 1/tau and 6
    // rows at 0; P(i) = that view plus the 2 rows of the same-class instance (cos 0):
    // l = -(1/3)(1/tau + 0 + 0) + log(e^{1/tau} + 6).
    const identity = scaledIdentity(4);
    expectClose(
      lossValue(loss, [identity, identity], [0, 0, 1, 1]),
      -1 / (3 * tau) + Math.log(Math.exp(1 / tau) + 6),
    );
    // One class, collapsed batch: every logit equals 1/tau and every row is a positive, so l = log(VN - 1).
    const collapsed = [
      [
        [1, 2],
        [2, 4],
        [3, 6],
      ],
      [
        [1, 2],
        [1, 2],
        [5, 10],
      ],
      [
        [2, 4],
        [1, 2],
        [1, 2],
      ],
    ];
    expectClose(lossValue(loss, collapsed, [4, 4, 4]), Math.log(8));
  });

  it('leaks no tensors on compute or over 100 training steps, and training lowers the loss', () => {
    checkNoLeaksAndTraining(defaultLoss(), {
      V: 2,
      labels: [0, 1, 1, 0],
      trained: createSupcon({ tau: 0.5 }),
      trainingLabels: [0, 1, 2, 0, 1, 2],
    });
  });
});
