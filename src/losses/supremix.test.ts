import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { LOSS_CATALOG } from './catalog';
import { createSupcon } from './supcon';
import { supremixLoss, type SupremixOptions } from './supremix';
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
  normRow,
  randomViews,
} from './testing';
import { Rng } from '../nn/random';

const OPTIONS: SupremixOptions = { tau: 0.5, window: 3, lambda: 0.7, mixNeg: true, mixPos: true };

/** a_ik in (0, 1) for R x R row pairs, from a seed. */
function alphas(seed: number, rows: number): Matrix {
  const rng = new Rng(seed);
  return Array.from({ length: rows }, () => Array.from({ length: rows }, () => rng.uniform(0.05, 0.95)));
}

const mixture = (a: number[], b: number[], w: number) => normRow(a.map((x, d) => w * x + (1 - w) * b[d]));

/**
 * SupReMix with plain loops (docs/losses.md): the mixtures are built from `fixedViews` (the same views for the
 * value; the unperturbed views for the numerical gradient, since the mixtures are constants).
 */
function supremixReference(
  views: Matrix[],
  targets: number[],
  negAlpha: Matrix,
  o: SupremixOptions,
  fixedViews: Matrix[] = views,
): number {
  const rows = views.flat().map(normRow);
  const fixed = fixedViews.flat().map(normRow);
  const y = [...targets, ...targets];
  const R = rows.length;
  const losses = rows.map((anchor, i) => {
    const numerator: number[] = [];
    const denominator: number[] = [];
    for (let j = 0; j < R; j++) {
      if (j === i) continue;
      const logit = dot(anchor, rows[j]) / o.tau;
      if (y[j] === y[i]) {
        numerator.push(logit);
        denominator.push(logit);
      } else {
        denominator.push(logit + Math.log(1 + o.lambda * Math.abs(y[i] - y[j])));
        if (o.mixNeg) {
          const a = negAlpha[i][j];
          const m = mixture(fixed[i], fixed[j], a);
          denominator.push(dot(anchor, m) / o.tau + Math.log(1 + o.lambda * (1 - a) * Math.abs(y[i] - y[j])));
        }
      }
    }
    if (o.mixPos && o.window > 0) {
      let lower = -1;
      let upper = -1;
      for (let j = 0; j < R; j++) {
        if (y[j] < y[i] && y[i] - y[j] < o.window && (lower < 0 || y[j] > y[lower])) lower = j;
        if (y[j] > y[i] && y[j] - y[i] < o.window && (upper < 0 || y[j] < y[upper])) upper = j;
      }
      if (lower >= 0 && upper >= 0) {
        const b = (y[upper] - y[i]) / (y[upper] - y[lower]);
        const logit = dot(anchor, mixture(fixed[lower], fixed[upper], b)) / o.tau;
        numerator.push(logit);
        denominator.push(logit);
      }
    }
    const meanPositive = numerator.reduce((s, x) => s + x, 0) / numerator.length;
    return -meanPositive + logSumExp(denominator);
  });
  return losses.reduce((s, x) => s + x, 0) / R;
}

/** An Objective with fixed mixing coefficients that reads the targets from the labels input (for the shared checks). */
function objective(negAlpha: Matrix | null, o: SupremixOptions): Objective {
  return {
    id: 'supremix',
    trainableVariables: [],
    compute({ views, labels }) {
      const rows = 2 * views[0].shape[0];
      const alpha = negAlpha ? tf.tensor2d(negAlpha) : tf.fill([rows, rows], 0.3);
      const targets = tf.cast(labels!, 'float32') as tf.Tensor1D;
      try {
        return supremixLoss(views, targets, alpha as tf.Tensor2D, o);
      } finally {
        tf.dispose([alpha, targets]);
      }
    },
    dispose() {},
  };
}

describe('supremix loss', () => {
  it('has the catalogue entry of docs/losses.md and refuses out-of-range parameters', async () => {
    const info = LOSS_CATALOG.supremix;
    expect(info.needsTargets).toBe(true);
    expect(info.needsLabels).toBe(false);
    expect(Object.fromEntries(Object.entries(info.params).map(([k, v]) => [k, v.default]))).toEqual({
      tau: 0.1,
      window: 5,
      lambda: 1,
      alphaA: 2,
      alphaB: 8,
      mixNeg: 1,
      mixPos: 1,
    });
    await checkParamRangeError('supremix', 'alphaA', 0, '[0.01, 100]');
    await checkParamRangeError('supremix', 'mixPos', 2, '[0, 1]');
  });

  it('matches the loop reference in value and numerical gradient (mixtures as constants)', () => {
    const cases: [number, number, number[], SupremixOptions][] = [
      [1, 3, [1, 3, 3, 5, 8, 2], OPTIONS],
      [2, 2, [0, 1, 2, 3, 4], { ...OPTIONS, window: 10, tau: 0.2 }],
      [3, 4, [4, 4, 1, 9], { ...OPTIONS, mixPos: false, lambda: 2 }],
      [4, 3, [2, 5, 3, 1, 1], { ...OPTIONS, mixNeg: false }],
    ];
    for (const [seed, d, targets, o] of cases) {
      const views = randomViews(seed, 2, targets.length, d);
      const negAlpha = alphas(seed, 2 * targets.length);
      const base = views.map((v) => v.map((row) => row.slice()));
      // the labels input carries the (integer-valued) targets through the shared helpers; fractional ones below
      expectMatchesReference(
        objective(negAlpha, o),
        views,
        (w) => supremixReference(w, targets, negAlpha, o),
        {
          labels: targets,
          gradientReference: (w) => supremixReference(w, targets, negAlpha, o, base),
        },
      );
    }
  });

  it('takes fractional targets: value and gradient equal the reference', () => {
    const targets = [2, 5, 3.5, 1, 1.25];
    const views = randomViews(4, 2, 5, 3);
    const negAlpha = alphas(4, 10);
    const o = { ...OPTIONS, window: 2 };
    const tensors = views.map((v) => tf.tensor2d(v));
    const y = tf.tensor1d(targets);
    const a = tf.tensor2d(negAlpha);
    const { value, grads } = tf.valueAndGrads((...vs: tf.Tensor[]) =>
      supremixLoss(vs as tf.Tensor2D[], y, a as tf.Tensor2D, o),
    )(tensors);
    expectClose(value.dataSync()[0], supremixReference(views, targets, negAlpha, o));
    // central differences of the reference with the mixtures held fixed
    const eps = 1e-3;
    grads.forEach((g, v) => {
      const values = g.arraySync() as Matrix;
      values.forEach((row, r) =>
        row.forEach((x, c) => {
          const plus = views.map((w) => w.map((q) => q.slice()));
          const minus = views.map((w) => w.map((q) => q.slice()));
          plus[v][r][c] += eps;
          minus[v][r][c] -= eps;
          const numeric =
            (supremixReference(plus, targets, negAlpha, o, views) -
              supremixReference(minus, targets, negAlpha, o, views)) /
            (2 * eps);
          expectClose(x, numeric, 1e-3);
        }),
      );
    });
    tf.dispose([value, ...grads, ...tensors, y, a]);
  });

  it('without mixtures and distance weights it is SupCon with the targets as classes', () => {
    const plain = { ...OPTIONS, mixNeg: false, mixPos: false, lambda: 0 };
    const views = randomViews(9, 2, 6, 4);
    const targets = [0, 1, 1, 2, 0, 3];
    expectClose(
      lossValue(objective(null, plain), views, targets),
      lossValue(createSupcon({ tau: plain.tau }), views, targets),
    );
    // distance magnifying weighs the far negatives up: the loss grows with lambda
    const weighted = lossValue(objective(null, { ...plain, lambda: 1 }), views, targets);
    expect(weighted).toBeGreaterThan(lossValue(objective(null, plain), views, targets));
  });

  it('is invariant to permuting instances with their targets and to scaling rows; finite on edge cases', () => {
    const views = randomViews(12, 2, 5, 3);
    const rows = 10;
    const negAlpha = Array.from({ length: rows }, () => new Array(rows).fill(0.4));
    // distinct targets: with ties the mix positive takes the first of the tied neighbours, which a permutation changes
    checkInvariances(objective(negAlpha, OPTIONS), views, { labels: [3, 1, 4, 2, 5], scaleRows: true });
    checkFiniteOnEdgeCases(() => objective(null, OPTIONS), {
      V: 2,
      labels: {
        random: [0, 1, 2, 3, 4],
        twoInstances: [0, 1],
        oneDimension: [1, 1, 2, 3],
        identical: [0, 0, 0, 0],
        zeroRows: [0, 2, 4, 6],
      },
    });
  });

  it('leaks no tensors and training lowers it', () => {
    checkNoLeaksAndTraining(objective(null, OPTIONS), {
      V: 2,
      labels: [0, 1, 2, 3],
      trainingLabels: [0, 1, 2, 3, 4, 5],
    });
  });
});
