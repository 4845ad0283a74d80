import { LOSS_CATALOG } from './catalog';
import { describe, expect, it } from 'vitest';
import { createAlignUniform } from './align_uniform';
import {
  type Matrix,
  checkFiniteOnEdgeCases,
  checkInvariances,
  checkNoLeaksAndTraining,
  checkParamRangeError,
  expectClose,
  expectMatchesReference,
  lossValue,
  mean,
  normRow,
  randomViews,
  scaledIdentity,
  sqDist,
} from './testing';

interface Params extends Record<string, number> {
  alpha: number;
  t: number;
  lambda: number;
}

/** log( mean_{i < j} exp(-t ||x_i - x_j||^2) ), with plain loops. */
function uniformityReference(rows: number[][], t: number): number {
  const terms: number[] = [];
  for (let i = 0; i < rows.length; i++)
    for (let j = i + 1; j < rows.length; j++) terms.push(Math.exp(-t * sqDist(rows[i], rows[j])));
  return Math.log(mean(terms));
}

/** mean_i ||a_i - b_i||^alpha + lambda (unif(a) + unif(b)) / 2 on the unit rows a, b, with plain loops. */
function alignUniformReference(views: Matrix[], { alpha, t, lambda }: Params): number {
  const [a, b] = views.map((view) => view.map(normRow));
  const alignment = mean(a.map((row, i) => sqDist(row, b[i]) ** (alpha / 2)));
  return alignment + (lambda * (uniformityReference(a, t) + uniformityReference(b, t))) / 2;
}

const defaults: Params = { alpha: 2, t: 2, lambda: 1 };
const defaultLoss = () => createAlignUniform(defaults);

describe('align_uniform', () => {
  it('has the defaults from docs/losses.md and rejects the wrong number of views or a single instance', () => {
    expect([
      LOSS_CATALOG.align_uniform.params.alpha.default,
      LOSS_CATALOG.align_uniform.params.t.default,
      LOSS_CATALOG.align_uniform.params.lambda.default,
    ]).toEqual([2, 2, 1]);
    expect(() => lossValue(defaultLoss(), randomViews(1, 3, 4, 2))).toThrow(
      /align_uniform.*exactly 2 views, got 3/,
    );
    expect(() => lossValue(defaultLoss(), randomViews(1, 2, 1, 2))).toThrow(
      /align_uniform.*at least 2 instances per batch, got 1/,
    );
  });

  it('createLoss rejects out-of-range alpha and t, naming the param and its range', async () => {
    await checkParamRangeError('align_uniform', 'alpha', 0.5, '[1, 4]');
    await checkParamRangeError('align_uniform', 't', 0, '(0, 10]');
    await checkParamRangeError('align_uniform', 'lambda', -1, '[0, 100]');
  });

  it('is finite with finite gradients on random, N = 2, D = 1, identical and zero-row inputs, for alpha = 2 and 1', () => {
    for (const params of [defaults, { alpha: 1, t: 2, lambda: 1 }])
      checkFiniteOnEdgeCases(() => createAlignUniform(params), { V: 2 });
  });

  it('matches the loop reference in value and the numerical gradient of the reference', () => {
    const cases: [number, number, number, Params][] = [
      [10, 4, 3, defaults],
      [11, 3, 2, { alpha: 1, t: 3, lambda: 0.5 }],
      [12, 2, 1, { alpha: 3, t: 1, lambda: 2 }],
      [13, 5, 4, { alpha: 2, t: 0.5, lambda: 0 }],
    ];
    for (const [seed, n, d, params] of cases) {
      expectMatchesReference(createAlignUniform(params), randomViews(seed, 2, n, d), (w) =>
        alignUniformReference(w, params),
      );
    }
    // A zero row is normalised to the origin: its distance to a unit row is 1, not 2 - 2 cos = 2.
    const zeroRow = randomViews(14, 2, 4, 3);
    zeroRow[1][2] = [0, 0, 0];
    expectClose(lossValue(defaultLoss(), zeroRow), alignUniformReference(zeroRow, defaults));
  });

  it('is invariant to permuting instances, scaling a row, and swapping the views', () => {
    const loss = createAlignUniform({ alpha: 1.5, t: 2, lambda: 1 });
    checkInvariances(loss, randomViews(20, 2, 5, 3), { scaleRows: true, viewOrder: [1, 0] });
  });

  it('gives the closed-form values', () => {
    for (const params of [defaults, { alpha: 1, t: 3, lambda: 0.5 }]) {
      const { alpha, t, lambda } = params;
      const loss = createAlignUniform(params);
      for (const n of [2, 3, 5]) {
        // Orthogonal rows (N = D) are all at squared distance 2: unif = log(exp(-2t)) = -2t per view.
        // Identical views: align = 0, so L = -2 t lambda. Opposite views: ||a_i - b_i|| = 2, align = 2^alpha.
        const identity = scaledIdentity(n);
        const negated = identity.map((row) => row.map((x) => -x));
        expectClose(lossValue(loss, [identity, identity]), -2 * t * lambda);
        expectClose(lossValue(loss, [identity, negated]), 2 ** alpha - 2 * t * lambda);
      }
      // D = 1, N = 2: a = (1, -1), b = (1, 1). align = (0 + 2^alpha) / 2; unif(a) = -4t (squared distance 4),
      // unif(b) = 0 (collapsed), so L = 2^(alpha - 1) - 2 t lambda.
      expectClose(
        lossValue(loss, [
          [[2], [-1]],
          [[5], [0.5]],
        ]),
        2 ** (alpha - 1) - 2 * t * lambda,
      );
    }
  });

  it('leaks no tensors on compute or over 100 training steps, and training lowers the loss', () => {
    checkNoLeaksAndTraining(defaultLoss(), { V: 2 });
  });
});
