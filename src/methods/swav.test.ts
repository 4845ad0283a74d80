import { LOSS_CATALOG } from '../losses/catalog';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Rng } from '../nn/random';
import { type SwavModule, type SwavParams, createSwavModule, sinkhornCodes } from './swav';
import {
  type Matrix,
  checkFiniteOnEdgeCases,
  checkParamRangeError,
  dot,
  expectClose,
  expectGradsMatch,
  expectNoLeakOnCompute,
  expectNoLeakOverTraining,
  logSumExp,
  lossValue,
  normRow,
  numericalGrad,
  permuteRows,
  randomViews,
  valueAndGrads,
} from '../losses/testing';
import { tinyNetwork } from './testing';

const params = (overrides: Partial<SwavParams> = {}): SwavParams =>
  ({ K: 5, eps: 0.05, iters: 3, tau: 0.1, ...overrides }) as SwavParams;

/** Sinkhorn-Knopp exactly as docs/losses.md writes it (no max shift): exp(S / eps), columns to 1/K, rows to 1/B, x B. */
function sinkhornReference(scores: Matrix, eps: number, iterations: number): Matrix {
  const batch = scores.length;
  const k = scores[0].length;
  const q = scores.map((row) => row.map((s) => Math.exp(s / eps)));
  for (let it = 0; it < iterations; it++) {
    for (let c = 0; c < k; c++) {
      let column = 0;
      for (let b = 0; b < batch; b++) column += q[b][c];
      for (let b = 0; b < batch; b++) q[b][c] /= column * k;
    }
    for (let b = 0; b < batch; b++) {
      const row = q[b].reduce((s, x) => s + x, 0);
      for (let c = 0; c < k; c++) q[b][c] /= row * batch;
    }
  }
  return q.map((row) => row.map((x) => x * batch));
}

/**
 * Plain-loop SwAV loss: scores = norm(z) norm(C)^T, codes by Sinkhorn, swapped prediction averaged over
 * ordered view pairs. Codes come from `codeViews` (default: the views themselves); passing the unperturbed
 * views makes the codes constants, as the stop-gradient does in the real loss.
 */
function swavReference(
  views: Matrix[],
  prototypes: Matrix,
  p: SwavParams,
  codeViews: Matrix[] = views,
): number {
  const units = prototypes.map(normRow);
  const scoresOf = (view: Matrix): Matrix => view.map((z) => units.map((c) => dot(normRow(z), c)));
  const scores = views.map(scoresOf);
  const codes = codeViews.map((v) => sinkhornReference(scoresOf(v), p.eps, p.iters));
  let total = 0;
  let pairs = 0;
  for (let s = 0; s < views.length; s++) {
    for (let t = 0; t < views.length; t++) {
      if (s === t) continue;
      let term = 0;
      for (let b = 0; b < views[0].length; b++) {
        const logits = scores[t][b].map((x) => x / p.tau);
        const normaliser = logSumExp(logits);
        for (let k = 0; k < p.K; k++) term -= (codes[s][b][k] * (logits[k] - normaliser)) / views[0].length;
      }
      total += term;
      pairs += 1;
    }
  }
  return total / pairs;
}

const prototypesOf = (module: SwavModule): Matrix => module.prototypes!.arraySync() as Matrix;

function setPrototypes(module: SwavModule, prototypes: Matrix, stepsDone = 0): void {
  const state = { prototypes: tf.tensor2d(prototypes), stepsDone: tf.scalar(stepsDone, 'int32') };
  module.setState(state);
  Object.values(state).forEach((t) => t.dispose());
}

describe('swav', () => {
  it('has the defaults from docs/losses.md and rejects bad view counts', () => {
    expect([
      LOSS_CATALOG.swav.params.K.default,
      LOSS_CATALOG.swav.params.eps.default,
      LOSS_CATALOG.swav.params.iters.default,
      LOSS_CATALOG.swav.params.tau.default,
    ]).toEqual([100, 0.05, 3, 0.1]);
    expect(() => lossValue(createSwavModule(params()), randomViews(1, 1, 4, 3))).toThrow(
      /at least 2 views, got 1/,
    );
  });

  it('createLoss rejects out-of-range or non-integer K, naming the param and its range', async () => {
    await checkParamRangeError('swav', 'K', 1, '[2, 4096]');
    await checkParamRangeError('swav', 'eps', 0.001, '[0.03, 1]');
    const { createLoss } = await import('./registry');
    expect(() => createLoss('swav', { K: 2.5 })).toThrow(/swav.*K must be an integer/);
  });

  it('is finite with finite gradients (views and prototypes) on random, N = 2, D = 1, identical, zero-row and 3-view inputs', () => {
    const ownGrads = checkFiniteOnEdgeCases(() => createSwavModule(params()), {
      V: 2,
      extraCases: [randomViews(6, 3, 4, 3)],
      ownVariables: true,
    });
    for (const [prototypeGrad] of ownGrads) expect(prototypeGrad.some((x) => x !== 0)).toBe(true);
  });

  it('draws the same prototypes on every run, unbound (seed 0) and bound with seed 0', () => {
    const views = randomViews(4, 2, 5, 3);
    const unbound = [createSwavModule(params()), createSwavModule(params())];
    unbound.forEach((m) => lossValue(m, views));
    expect(prototypesOf(unbound[0])).toEqual(prototypesOf(unbound[1]));
    const network = tinyNetwork(1, 3);
    const bound = [createSwavModule(params()), createSwavModule(params())];
    for (const m of bound) m.bind({ network, totalSteps: 4, stepsPerEpoch: 2, numClasses: 10, seed: 0 });
    expect(prototypesOf(bound[0])).toEqual(prototypesOf(bound[1]));
    [...unbound, ...bound].forEach((m) => m.dispose());
    network.dispose();
  });

  it('matches the loop reference in value and in gradient (codes held constant)', () => {
    const p = params({ K: 6 });
    const views = randomViews(11, 3, 5, 4);
    const loss = createSwavModule(p);
    const { value, grads } = valueAndGrads(loss, views);
    const prototypes = prototypesOf(loss);
    expectClose(value, swavReference(views, prototypes, p), 1e-4);
    expectGradsMatch(
      grads,
      numericalGrad((v) => swavReference(v, prototypes, p, views), views),
    );
    loss.dispose();
  });

  it('Sinkhorn codes match the loop reference; every code sums to 1 and prototype totals converge to B/K', () => {
    const rng = new Rng(5);
    const batch = 6;
    const k = 4;
    const raw = Array.from({ length: batch }, () => Array.from({ length: k }, () => rng.uniform(-1, 1)));
    const scores = tf.tensor2d(raw);
    const codes = sinkhornCodes(scores, 0.05, 3);
    const values = codes.arraySync() as Matrix;
    const expected = sinkhornReference(raw, 0.05, 3);
    values.forEach((row, b) => row.forEach((x, c) => expectClose(x, expected[b][c], 1e-4)));
    values.forEach((row) =>
      expectClose(
        row.reduce((s, x) => s + x, 0),
        1,
        1e-5,
      ),
    );
    // Each Sinkhorn iteration moves the column totals closer to B/K; after many they are equal.
    const converged = sinkhornCodes(scores, 0.5, 200).arraySync() as Matrix;
    for (let c = 0; c < k; c++)
      expectClose(
        converged.reduce((s, row) => s + row[c], 0),
        batch / k,
        1e-3,
      );
    tf.dispose([scores, codes]);
  });

  it('equals the closed forms: log K for uniform scores, and binary entropies for two orthogonal clusters', () => {
    // All prototypes equal: every sample scores all K prototypes the same, so q = 1/K and the predicted
    // softmax is uniform: L = -sum_k (1/K) log(1/K) = log K.
    const uniform = createSwavModule(params({ K: 3 }));
    setPrototypes(uniform, [
      [0, 1],
      [0, 1],
      [0, 1],
    ]);
    expectClose(lossValue(uniform, randomViews(8, 2, 4, 2)), Math.log(3), 1e-5);
    // K = B = 2, prototypes e1, e2 and both views = [e1, e2]: scores = I, so exp(S/eps) = [[e^{1/eps}, 1], [1, e^{1/eps}]]
    // is already balanced and the codes are [[a, 1-a], [1-a, a]] with a = sigmoid(1/eps); the prediction is
    // softmax([1/tau, 0]) = [sigmoid(1/tau), sigmoid(-1/tau)], so L = -(a log sigmoid(1/tau) + (1-a) log sigmoid(-1/tau)).
    const p = params({ K: 2, eps: 0.5, tau: 0.25 });
    const clusters = createSwavModule(p);
    const identity = [
      [1, 0],
      [0, 1],
    ];
    setPrototypes(clusters, identity);
    const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
    const a = sigmoid(1 / p.eps);
    const expected = -(a * Math.log(sigmoid(1 / p.tau)) + (1 - a) * Math.log(sigmoid(-1 / p.tau)));
    expectClose(lossValue(clusters, [identity, identity]), expected, 1e-5);
    uniform.dispose();
    clusters.dispose();
  });

  it('is invariant to permuting instances and to scaling a row of the raw views', () => {
    const views = randomViews(21, 2, 5, 3);
    const loss = createSwavModule(params());
    const base = lossValue(loss, views);
    expectClose(lossValue(loss, permuteRows(views, [3, 0, 4, 1, 2])), base, 1e-5);
    const scaled = views.map((v) => v.map((row) => row.slice()));
    scaled[0][2] = scaled[0][2].map((x) => 7.5 * x);
    scaled[1][0] = scaled[1][0].map((x) => 0.01 * x);
    expectClose(lossValue(loss, scaled), base, 1e-5);
    loss.dispose();
  });

  it('leaks no tensors on compute or over 100 training steps, and keeps its prototypes unit-length', () => {
    const loss = createSwavModule(params());
    const views = randomViews(4, 2, 4, 3);
    lossValue(loss, views); // creates the prototypes (a deliberate new variable), so training also updates them
    expectNoLeakOnCompute(loss, views);
    const before = prototypesOf(loss);
    const { first, last } = expectNoLeakOverTraining(loss, { V: 2, N: 8, D: 3 });
    expect(Number.isFinite(first) && Number.isFinite(last)).toBe(true);
    expect(last).toBeLessThan(first);
    lossValue(loss, views); // renormalises
    const after = prototypesOf(loss);
    expect(after.some((row, r) => row.some((x, c) => Math.abs(x - before[r][c]) > 1e-3))).toBe(true);
    after.forEach((row) => expectClose(Math.hypot(...row), 1, 1e-5));
    loss.dispose();
  });

  it('freezes the prototypes for the first epoch (zero gradient, weight decay undone), then trains them', () => {
    const stepsPerEpoch = 3;
    const loss = createSwavModule(params());
    const network = tinyNetwork(1, 3);
    loss.bind({ network, totalSteps: 6, stepsPerEpoch, numClasses: 10, seed: 9 });
    const rng = new Rng(2);
    const x = tf.tensor2d(Array.from({ length: 8 }, () => Array.from({ length: 5 }, () => rng.normal())));
    const w = tf.variable(tf.randomNormal([5, 3], 0, 0.5, 'float32', 1));
    const optimizer: tf.Optimizer = tf.train.adam(0.05);
    const initial = prototypesOf(loss);
    const history: { frozen: boolean; gradMax: number; prototypes: Matrix }[] = [];
    for (let step = 0; step < 6; step++) {
      const frozen = loss.frozen;
      const prototypes = loss.prototypes!;
      const { value, grads } = tf.variableGrads(
        () => loss.compute({ views: tf.split(tf.matMul(x, w), 2, 0) as tf.Tensor2D[] }),
        [w, prototypes],
      );
      const gradMax = tf.tidy(() => tf.max(tf.abs(grads[prototypes.name])).dataSync()[0]);
      optimizer.applyGradients(grads);
      // Decoupled weight decay on every matrix, as AdamW/LARS do: it must not move frozen prototypes.
      tf.tidy(() => prototypes.assign(tf.mul(prototypes, 0.9)));
      value.dispose();
      Object.values(grads).forEach((g) => g.dispose());
      loss.afterStep({ step: step + 1, totalSteps: 6 });
      history.push({ frozen, gradMax, prototypes: prototypesOf(loss) });
    }
    expect(history.map((h) => h.frozen)).toEqual([true, true, true, false, false, false]);
    // Bit-identical across the frozen steps; equal to the initial rows up to the (idempotent) renormalisation.
    for (const h of history.slice(0, stepsPerEpoch)) {
      expect(h.gradMax).toBe(0);
      expect(h.prototypes).toEqual(history[0].prototypes);
      h.prototypes.forEach((row, r) => row.forEach((x, c) => expectClose(x, initial[r][c], 1e-6)));
    }
    expect(history[stepsPerEpoch].gradMax).toBeGreaterThan(0);
    expect(
      history[stepsPerEpoch].prototypes.flat().some((x, i) => Math.abs(x - initial.flat()[i]) > 1e-3),
    ).toBe(true);
    optimizer.dispose();
    tf.dispose([x, w]);
    network.dispose();
    loss.dispose();
  });

  it('getState / setState round-trips the prototypes and the freeze progress', () => {
    const source = createSwavModule(params());
    const network = tinyNetwork(1, 3);
    source.bind({ network, totalSteps: 10, stepsPerEpoch: 2, numClasses: 10, seed: 4 });
    source.afterStep({ step: 1, totalSteps: 10 });
    const views = randomViews(8, 2, 4, 3);
    const expected = lossValue(source, views);
    const state = source.getState();
    const restored = createSwavModule(params());
    restored.bind({ network, totalSteps: 10, stepsPerEpoch: 2, numClasses: 10, seed: 99 });
    expect(prototypesOf(restored)).not.toEqual(prototypesOf(source));
    restored.setState(state);
    expect(prototypesOf(restored)).toEqual(prototypesOf(source));
    expect(restored.frozen).toBe(true);
    restored.afterStep({ step: 2, totalSteps: 10 });
    expect(restored.frozen).toBe(false);
    expectClose(lossValue(restored, views), expected, 1e-6);
    const wrongK = createSwavModule(params({ K: 7 }));
    expect(() => wrongK.setState(state)).toThrow(/prototypes have shape \[5,3\], expected \[7, D\]/);
    Object.values(state).forEach((t) => t.dispose());
    [source, restored, wrongK].forEach((m) => m.dispose());
    network.dispose();
  });
});
