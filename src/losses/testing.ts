// Shared helpers for the loss property tests (imported only by *.test.ts files).
import { resolveLossParams } from './catalog';
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { Rng } from '../nn/random';
import type { LossInputs, LossModule } from './types';

/** What these helpers drive: a pure loss, or a method (src/methods) with its extra inputs and afterStep. */
export type ObjectiveInputs = LossInputs & { features?: tf.Tensor2D[]; images?: tf.Tensor4D[] };
export type Objective = Omit<LossModule, 'compute'> & {
  compute(inputs: ObjectiveInputs): tf.Scalar;
  afterStep?(info: { step: number; totalSteps: number }): void;
};

export {
  cosine,
  dot,
  logSumExp,
  mean,
  normRow,
  randomLabels,
  randomViews,
  sqDist,
  type Matrix,
} from '../nn/testing';
import { randomViews, type Matrix } from '../nn/testing';

export function toInputs(views: Matrix[], labels?: number[]): ObjectiveInputs {
  return {
    views: views.map((v) => tf.tensor2d(v)),
    labels: labels ? tf.tensor1d(labels, 'int32') : undefined,
  };
}

export function disposeInputs(inputs: ObjectiveInputs): void {
  inputs.views.forEach((v) => v.dispose());
  inputs.labels?.dispose();
  inputs.features?.forEach((f) => f.dispose());
  inputs.images?.forEach((i) => i.dispose());
}

/** Loss value and its gradient with respect to every view (as plain arrays). */
export function valueAndGrads(
  loss: Objective,
  views: Matrix[],
  labels?: number[],
): { value: number; grads: Matrix[] } {
  const inputs = toInputs(views, labels);
  const f = (...vs: tf.Tensor[]) => loss.compute({ ...inputs, views: vs as tf.Tensor2D[] });
  const { value, grads } = tf.valueAndGrads(f)(inputs.views);
  const out = { value: value.dataSync()[0], grads: grads.map((g) => g.arraySync() as Matrix) };
  value.dispose();
  grads.forEach((g) => g.dispose());
  disposeInputs(inputs);
  return out;
}

export function lossValue(loss: Objective, views: Matrix[], labels?: number[]): number {
  const inputs = toInputs(views, labels);
  const v = loss.compute(inputs);
  const out = v.dataSync()[0];
  v.dispose();
  disposeInputs(inputs);
  return out;
}

export function expectAllFinite(value: number, grads: Matrix[]): void {
  expect(Number.isFinite(value)).toBe(true);
  for (const g of grads) for (const row of g) for (const x of row) expect(Number.isFinite(x)).toBe(true);
}

export function expectClose(actual: number, expected: number, tol = 1e-4): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(expected)));
}

/** Permutes instances (rows) with the same permutation in every view. */
export function permuteRows(views: Matrix[], perm: number[]): Matrix[] {
  return views.map((v) => perm.map((p) => v[p]));
}

/** Central-difference numerical gradient of a plain-number function of the views. */
export function numericalGrad(f: (views: Matrix[]) => number, views: Matrix[], eps = 1e-3): Matrix[] {
  return views.map((v, vi) =>
    v.map((row, r) =>
      row.map((_, c) => {
        const plus = views.map((w) => w.map((x) => x.slice()));
        const minus = views.map((w) => w.map((x) => x.slice()));
        plus[vi][r][c] += eps;
        minus[vi][r][c] -= eps;
        return (f(plus) - f(minus)) / (2 * eps);
      }),
    ),
  );
}

/** Asserts tf.memory().numTensors is unchanged by compute + dispose of the result. */
export function expectNoLeakOnCompute(loss: Objective, views: Matrix[], labels?: number[]): void {
  const inputs = toInputs(views, labels);
  const before = tf.memory().numTensors;
  const v = loss.compute(inputs);
  v.dispose();
  expect(tf.memory().numTensors).toBe(before);
  disposeInputs(inputs);
}

/**
 * `steps` SGD steps (lr 0.05) minimising loss.compute(inputs()) over `variables` and the loss's own
 * trainableVariables, with afterStep after each, as the trainer does. Asserts that the number of live tensors
 * does not grow after the second step; returns the first and last loss value.
 */
export function trainCheckingLeaks(
  loss: Objective,
  variables: tf.Variable[],
  inputs: () => ObjectiveInputs,
  steps = 100,
): { first: number; last: number } {
  const optimizer = tf.train.sgd(0.05);
  const varList = [...variables, ...loss.trainableVariables];
  let first = NaN;
  let last = NaN;
  let baseline = -1;
  for (let step = 0; step < steps; step++) {
    const cost = optimizer.minimize(() => loss.compute(inputs()), true, varList);
    const value = cost!.dataSync()[0];
    cost!.dispose();
    loss.afterStep?.({ step: step + 1, totalSteps: steps });
    if (step === 0) first = value;
    last = value;
    if (step === 1) baseline = tf.memory().numTensors;
  }
  expect(tf.memory().numTensors).toBe(baseline);
  optimizer.dispose();
  return { first, last };
}

/**
 * Trains a small linear map W (one per view, shared input) for `steps` SGD steps with the loss and
 * asserts that the number of live tensors does not grow; returns the first and last loss value.
 */
export function expectNoLeakOverTraining(
  loss: Objective,
  opts: { V: number; N: number; D: number; steps?: number; labels?: number[]; seed?: number },
): { first: number; last: number } {
  const rng = new Rng(opts.seed ?? 7);
  const x = tf.tensor2d(
    Array.from({ length: opts.V * opts.N }, () => Array.from({ length: 8 }, () => rng.normal())),
  );
  const w = tf.variable(tf.randomNormal([8, opts.D], 0, 0.3, 'float32', 3));
  const labels = opts.labels ? tf.tensor1d(opts.labels, 'int32') : undefined;
  const result = trainCheckingLeaks(
    loss,
    [w],
    () => ({ views: tf.split(tf.matMul(x, w), opts.V, 0) as tf.Tensor2D[], labels }),
    opts.steps,
  );
  x.dispose();
  w.dispose();
  labels?.dispose();
  return result;
}

// ---- property checks shared by the loss tests ----

/** n x n identity times `scale`: orthogonal rows of norm `scale` (closed forms also check that a loss normalises). */
export const scaledIdentity = (n: number, scale = 3): Matrix =>
  Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, k) => (i === k ? scale : 0)));

/** Every gradient entry matches the expected one within expectClose's tolerance `tol`. */
export function expectGradsMatch(actual: Matrix[], expected: Matrix[], tol = 1e-3): void {
  actual.forEach((view, v) =>
    view.forEach((row, r) => row.forEach((x, c) => expectClose(x, expected[v][r][c], tol))),
  );
}

/**
 * Asserts that the loss value equals reference(views) (tol 1e-4) and that its gradient with respect to every view
 * equals the central-difference gradient of `gradientReference` (default: the same reference; tol 1e-3).
 */
export function expectMatchesReference(
  loss: Objective,
  views: Matrix[],
  reference: (views: Matrix[]) => number,
  opts: { labels?: number[]; gradientReference?: (views: Matrix[]) => number } = {},
): void {
  const { value, grads } = valueAndGrads(loss, views, opts.labels);
  expectClose(value, reference(views));
  expectGradsMatch(grads, numericalGrad(opts.gradientReference ?? reference, views));
}

/**
 * Asserts that the gradients of the loss with respect to every one of its own trainableVariables exist and are
 * finite; returns them flattened, in variable order (the inputs stay owned by the caller).
 */
export function expectFiniteOwnGrads(loss: Objective, inputs: ObjectiveInputs): number[][] {
  const { value, grads } = tf.variableGrads(() => loss.compute(inputs), loss.trainableVariables);
  const own = Object.values(grads).map((g) => Array.from(g.dataSync()));
  tf.dispose([value, ...Object.values(grads)]);
  expect(own.length).toBe(loss.trainableVariables.length);
  for (const g of own) expect(g.every(Number.isFinite)).toBe(true);
  return own;
}

export type EdgeCaseName = 'random' | 'twoInstances' | 'oneDimension' | 'identical' | 'zeroRows';

/**
 * The inputs of the finiteness property: random (2 views, N = 5), then V views each with N = 2, with D = 1,
 * identical, and with a zero row in the first and in the last view (N = 4 and D = 3 where not said).
 */
export function edgeCases(V: number): Record<EdgeCaseName, Matrix[]> {
  const zeroRows = randomViews(3, V, 4, 3);
  zeroRows[0][1] = [0, 0, 0];
  zeroRows[V - 1][3] = [0, 0, 0];
  const identical = randomViews(5, 1, 4, 3)[0];
  return {
    random: randomViews(2, 2, 5, 3),
    twoInstances: randomViews(6, V, 2, 3),
    oneDimension: randomViews(7, V, 4, 1),
    identical: Array.from({ length: V }, () => identical),
    zeroRows,
  };
}

/**
 * Asserts a finite value and finite gradients with respect to the views on every edge case (`replace` swaps in
 * other views for some) and on `extraCases`, each on a fresh module from makeLoss (disposed after); with
 * ownVariables, also finite gradients for every one of the module's trainableVariables, returned per case.
 */
export function checkFiniteOnEdgeCases(
  makeLoss: () => Objective,
  opts: {
    V: number;
    labels?: Record<EdgeCaseName, number[]>;
    replace?: Partial<Record<EdgeCaseName, Matrix[]>>;
    extraCases?: Matrix[][];
    ownVariables?: boolean;
  },
): number[][][] {
  const viewsByCase = { ...edgeCases(opts.V), ...opts.replace };
  const cases: { views: Matrix[]; labels?: number[] }[] = [
    ...Object.entries(viewsByCase).map(([name, views]) => ({
      views,
      labels: opts.labels?.[name as EdgeCaseName],
    })),
    ...(opts.extraCases ?? []).map((views) => ({ views })),
  ];
  return cases.map(({ views, labels }) => {
    const loss = makeLoss();
    const { value, grads } = valueAndGrads(loss, views, labels);
    expectAllFinite(value, grads);
    let own: number[][] = [];
    if (opts.ownVariables) {
      const inputs = toInputs(views, labels);
      own = expectFiniteOwnGrads(loss, inputs);
      disposeInputs(inputs);
    }
    loss.dispose();
    return own;
  });
}

/** The permutation of 5 instances used by checkInvariances. */
const PERMUTATION_OF_5 = [3, 0, 4, 1, 2];

/**
 * Asserts the loss value is unchanged (tol 1e-4) by permuting the instances alike in every view (labels too);
 * with scaleRows, by scaling row 2 - v of view v by 4.5 (a different instance per view); with viewOrder, by
 * reordering the views. Returns the value on `views`.
 */
export function checkInvariances(
  loss: Objective,
  views: Matrix[],
  opts: { labels?: number[]; permutation?: number[]; scaleRows?: boolean; viewOrder?: number[] } = {},
): number {
  const { labels, permutation = PERMUTATION_OF_5 } = opts;
  const base = lossValue(loss, views, labels);
  const permutedLabels = labels && permutation.map((p) => labels[p]);
  expectClose(lossValue(loss, permuteRows(views, permutation), permutedLabels), base);
  if (opts.scaleRows) {
    const scaledRows = views.map((view, v) =>
      view.map((row, i) => (i === 2 - v ? row.map((x) => 4.5 * x) : row)),
    );
    expectClose(lossValue(loss, scaledRows, labels), base);
  }
  if (opts.viewOrder)
    expectClose(
      lossValue(
        loss,
        opts.viewOrder.map((v) => views[v]),
        labels,
      ),
      base,
    );
  return base;
}

/** Asserts resolveLossParams(id, { [param]: badValue }) throws "loss '<id>': <param> must be in <range>, got <badValue>". */
export async function checkParamRangeError(
  id: string,
  param: string,
  badValue: number,
  range: string,
): Promise<void> {
  expect(() => resolveLossParams(id, { [param]: badValue })).toThrow(
    `loss '${id}': ${param} must be in ${range}, got ${badValue}`,
  );
}

/**
 * Asserts no tensor leaks on compute (V x [4, 3] views) and over 100 training steps of `trained` (default: `loss`;
 * V x [6, 3]), and that training lowered the loss.
 */
export function checkNoLeaksAndTraining(
  loss: Objective,
  opts: { V: number; labels?: number[]; trained?: Objective; trainingLabels?: number[] },
): void {
  expectNoLeakOnCompute(loss, randomViews(30, opts.V, 4, 3), opts.labels);
  const { first, last } = expectNoLeakOverTraining(opts.trained ?? loss, {
    V: opts.V,
    N: 6,
    D: 3,
    labels: opts.trainingLabels,
  });
  expect(last).toBeLessThan(first);
}
