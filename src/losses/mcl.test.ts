import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { LOSS_CATALOG } from './catalog';
import { mclStageLoss } from './mcl';
import { createNtxent } from './ntxent';
import {
  type Matrix,
  type Objective,
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
 * The MCL stage loss with plain loops: rows r of Z = [norm(views[0]); norm(views[1])], p(r) = (r + N) mod 2N,
 * Neg(r) = { j != r, p(r) : g_j = g_r }, l_r = -s_rp/tau + log( e^{s_rp/tau} + sum_{j in Neg(r)} e^{s_rj/tau} ).
 */
function mclReference(views: Matrix[], groups: number[] | null, tau: number): number {
  const rows = views.flat().map(normRow);
  const n = views[0].length;
  const group = (r: number) => (groups ? groups[r % n] : 0);
  return mean(
    rows.map((anchor, r) => {
      const p = (r + n) % (2 * n);
      const positive = dot(anchor, rows[p]) / tau;
      const negatives = rows
        .map((_, j) => j)
        .filter((j) => j !== r && j !== p && group(j) === group(r))
        .map((j) => dot(anchor, rows[j]) / tau);
      return -positive + logSumExp([positive, ...negatives]);
    }),
  );
}

/** An Objective computing the stage loss with fixed groups (plain numbers), for the shared checks. */
function stageObjective(groups: number[] | null, tau: number): Objective {
  return {
    id: 'mcl',
    trainableVariables: [],
    compute({ views }) {
      const g = groups ? tf.tensor1d(groups, 'int32') : null;
      try {
        return mclStageLoss(views, g, tau);
      } finally {
        g?.dispose();
      }
    },
    dispose() {},
  };
}

describe('mcl stage loss', () => {
  it('has the catalogue defaults and ranges of docs/losses.md', async () => {
    const params = LOSS_CATALOG.mcl.params;
    expect([params.tau.default, params.stages.default, params.clusters.default]).toEqual([0.5, 3, 10]);
    expect([params.stageSteps.default, params.reinit.default]).toEqual([0, 1]);
    await checkParamRangeError('mcl', 'stages', 9, '[1, 8]');
    await checkParamRangeError('mcl', 'clusters', 1, '[2, 1000]');
    await checkParamRangeError('mcl', 'reinit', 2, '[0, 1]');
  });

  it('matches the loop reference in value and numerical gradient, with and without groups', () => {
    for (const [seed, n, d, tau, groupCount] of [
      [1, 6, 3, 0.5, 2],
      [2, 5, 4, 0.2, 3],
      [3, 4, 2, 1, 1],
      [4, 5, 3, 0.3, 5], // every instance alone: no negatives at all
    ]) {
      const groups = randomLabels(seed, n, groupCount);
      expectMatchesReference(stageObjective(groups, tau), randomViews(seed, 2, n, d), (w) =>
        mclReference(w, groups, tau),
      );
      expectMatchesReference(stageObjective(null, tau), randomViews(seed + 10, 2, n, d), (w) =>
        mclReference(w, null, tau),
      );
    }
  });

  it('is NT-Xent without groups (stage 1) and with one group for all, and 0 when every anchor is alone', () => {
    const views = randomViews(7, 2, 6, 4);
    const ntxent = lossValue(createNtxent({ tau: 0.4 }), views);
    expectClose(lossValue(stageObjective(null, 0.4), views), ntxent);
    expectClose(lossValue(stageObjective([3, 3, 3, 3, 3, 3], 0.4), views), ntxent);
    expect(lossValue(stageObjective([0, 1, 2, 3, 4, 5], 0.4), views)).toBeCloseTo(0, 6);
    // identical orthogonal views in two groups of 2: each anchor has its positive (1/tau) and 2 negatives at 0
    const identity = scaledIdentity(4);
    const tau = 0.5;
    expectClose(
      lossValue(stageObjective([0, 0, 1, 1], tau), [identity, identity]),
      -1 / tau + Math.log(Math.exp(1 / tau) + 2),
    );
  });

  it('is invariant to permuting instances with their groups, scaling rows and swapping the views', () => {
    // groups passed as the labels input, so that checkInvariances permutes them with the instances
    const byLabels: Objective = {
      id: 'mcl',
      trainableVariables: [],
      compute: ({ views, labels }) => mclStageLoss(views, labels ?? null, 0.5),
      dispose() {},
    };
    const views = randomViews(8, 2, 5, 3);
    const groups = [0, 1, 1, 0, 2];
    const base = checkInvariances(byLabels, views, { labels: groups, scaleRows: true, viewOrder: [1, 0] });
    expectClose(base, mclReference(views, groups, 0.5));
  });

  it('is finite on the edge cases and refuses other view counts and mis-shaped groups', () => {
    checkFiniteOnEdgeCases(() => stageObjective(null, 0.5), { V: 2 });
    expect(() => lossValue(stageObjective(null, 0.5), randomViews(1, 3, 4, 2))).toThrow(
      "loss 'mcl' needs exactly 2 views, got 3",
    );
    expect(() => lossValue(stageObjective([0, 1], 0.5), randomViews(1, 2, 4, 2))).toThrow(
      "loss 'mcl': groups must have shape [4]",
    );
  });

  it('leaks no tensors and lowers its value in training', () => {
    checkNoLeaksAndTraining(stageObjective([0, 1, 0, 1], 0.5), {
      V: 2,
      trained: stageObjective([0, 0, 1, 1, 0, 1], 0.5),
    });
  });
});
