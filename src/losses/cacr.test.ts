import { LOSS_CATALOG } from './catalog';
import { describe, expect, it } from 'vitest';
import { type CacrParams, createCacr } from './cacr';
import {
  type Matrix,
  checkFiniteOnEdgeCases,
  checkInvariances,
  checkNoLeaksAndTraining,
  checkParamRangeError,
  expectClose,
  expectMatchesReference,
  logSumExp,
  lossValue,
  normRow,
  randomViews,
  scaledIdentity,
  sqDist,
} from './testing';

/** sum_k softmax_k(sharpness * costs)_k * costs_k, with plain numbers. */
function softmaxWeightedCost(costs: number[], sharpness: number): number {
  const logits = costs.map((c) => sharpness * c);
  const normalizer = logSumExp(logits);
  return costs.reduce((sum, c, k) => sum + Math.exp(logits[k] - normalizer) * c, 0);
}

/** alpha * L1 + beta * L2 as in docs/losses.md, loop by loop over (q, i, l) and (a < b, i, j). */
function cacrReference(views: Matrix[], { alpha, beta, tPos, tNeg }: CacrParams): number {
  const unit = views.map((view) => view.map(normRow));
  const viewCount = unit.length;
  const n = unit[0].length;
  let attraction = 0;
  for (let q = 0; q < viewCount; q++) {
    for (let i = 0; i < n; i++) {
      const costs: number[] = [];
      for (let l = 0; l < viewCount; l++) if (l !== q) costs.push(sqDist(unit[q][i], unit[l][i]));
      attraction += softmaxWeightedCost(costs, tPos) / (viewCount * n);
    }
  }
  let repulsion = 0;
  let anchors = 0;
  for (let a = 0; a < viewCount; a++) {
    for (let b = a + 1; b < viewCount; b++) {
      for (let i = 0; i < n; i++) {
        const costs: number[] = [];
        for (let j = 0; j < n; j++) if (j !== i) costs.push(sqDist(unit[a][i], unit[b][j]));
        repulsion += softmaxWeightedCost(costs, -tNeg);
        anchors++;
      }
    }
  }
  return alpha * attraction - beta * (repulsion / anchors);
}

const DEFAULTS: CacrParams = { alpha: 1, beta: 1, tPos: 1, tNeg: 0.9 };
const E0 = [1, 0];
const E1 = [0, 1];

describe('cacr', () => {
  it('has the defaults from docs/losses.md and rejects one view and N = 1 with clear errors', () => {
    const { alpha, beta, tPos, tNeg } = LOSS_CATALOG.cacr.params;
    expect([alpha.default, beta.default, tPos.default, tNeg.default]).toEqual([1, 1, 1, 0.9]);
    expect(() => lossValue(createCacr(DEFAULTS), randomViews(1, 1, 4, 2))).toThrow(/at least 2 views, got 1/);
    expect(() => lossValue(createCacr(DEFAULTS), randomViews(1, 2, 1, 2))).toThrow(
      /at least 2 instances.*got 1/,
    );
  });

  it('createLoss rejects an out-of-range param, naming the param and its range', async () => {
    await checkParamRangeError('cacr', 'tNeg', -0.1, '[0, 100]');
  });

  it('is finite with finite gradients on random, N = 2, D = 1, V = 3, identical and zero-row inputs', () => {
    const identical = randomViews(5, 1, 4, 3)[0];
    checkFiniteOnEdgeCases(() => createCacr(DEFAULTS), {
      V: 2,
      extraCases: [randomViews(8, 3, 4, 2), [identical, identical, identical]],
    });
  });

  it('matches the loop reference in value and the numerical gradient of the reference', () => {
    const cases: [Matrix[], CacrParams][] = [
      [randomViews(10, 2, 4, 3), DEFAULTS],
      [randomViews(11, 3, 3, 2), { alpha: 0.7, beta: 1.3, tPos: 2, tNeg: 3 }],
      [randomViews(12, 4, 3, 3), DEFAULTS],
      [randomViews(13, 2, 2, 1), DEFAULTS],
    ];
    for (const [views, params] of cases)
      expectMatchesReference(createCacr(params), views, (v) => cacrReference(v, params));
  });

  it('is invariant to permuting instances and scaling a row', () => {
    checkInvariances(createCacr({ alpha: 1, beta: 1, tPos: 2, tNeg: 2 }), randomViews(20, 3, 5, 3), {
      scaleRows: true,
    });
  });

  it('gives the closed-form values', () => {
    const loss = createCacr(DEFAULTS);
    // Identical one-hot views, N = D = 3 (rows scaled by 3, removed by normalisation): every positive
    // cost is 0 and every negative cost is ||e_i - e_j||^2 = 2, so the weights are uniform and L = -2 beta.
    const identity = scaledIdentity(3);
    expectClose(lossValue(loss, [identity, identity]), -2);

    // Repulsion weights: identical views with rows e0, e1, -e0 (attraction 0). Anchor e0 sees costs
    // [2 (e1), 4 (-e0)], so R = (2 e^{-0.9*2} + 4 e^{-0.9*4}) / (e^{-1.8} + e^{-3.6}); -e0 sees the same;
    // e1 sees [2, 2], R = 2. L = -(2 R + 2) / 3.
    const threeRows = [E0, E1, [-1, 0]];
    const farRepulsion = (2 * Math.exp(-1.8) + 4 * Math.exp(-3.6)) / (Math.exp(-1.8) + Math.exp(-3.6));
    expectClose(lossValue(loss, [threeRows, threeRows]), -(2 * farRepulsion + 2) / 3);

    // Attraction weights (beta = 0), V = 3, N = 2: instance 0 has views e0, e0, e1; instance 1 has e1 in all.
    // Query e0 (views 0 and 1) sees costs [0, 2]: A = 2 e^2 / (1 + e^2) with tPos = 1; query e1 (view 2)
    // sees [2, 2]: A = 2; instance 1 has A = 0. L1 = (2 A + 2) / 6.
    const farAttraction = (2 * Math.exp(2)) / (1 + Math.exp(2));
    const attractionOnly = createCacr({ ...DEFAULTS, beta: 0 });
    expectClose(
      lossValue(attractionOnly, [
        [E0, E1],
        [E0, E1],
        [E1, E1],
      ]),
      (2 * farAttraction + 2) / 6,
    );

    // A zero row has norm(0) = 0, so its cost to any unit vector is 1 (not 2 - 2 cos). View 0 = [0, e1],
    // view 1 = [e0, e1]: L1 = (1 + 1 + 0 + 0) / 4 = 0.5; repulsion R = c(0, e1) = 1 and c(e1, e0) = 2,
    // L2 = -1.5. L = -1.
    expectClose(
      lossValue(loss, [
        [[0, 0], E1],
        [E0, E1],
      ]),
      -1,
    );
  });

  it('leaks no tensors on compute or over 100 training steps, and training lowers the loss', () => {
    checkNoLeaksAndTraining(createCacr(DEFAULTS), { V: 3 });
  });
});
