// Shared helpers for the loss property tests (imported only by *.test.ts files).
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { Rng } from '../engine/random';
import type { LossInputs, LossModule } from './types';

export type Matrix = number[][];

/** V random [N, D] matrices with entries ~ N(0, 1), from a seed. */
export function randomViews(seed: number, V: number, N: number, D: number): Matrix[] {
  const rng = new Rng(seed);
  return Array.from({ length: V }, () => Array.from({ length: N }, () => Array.from({ length: D }, () => rng.normal())));
}

export function randomLabels(seed: number, N: number, classes: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: N }, () => rng.int(classes));
}

// ---- plain-number reference math for loop-by-loop references ----
export const dot = (a: number[], b: number[]): number => a.reduce((s, x, i) => s + x * b[i], 0);
export const normRow = (a: number[]): number[] => {
  const n = Math.max(Math.sqrt(dot(a, a)), 1e-12);
  return a.map((x) => x / n);
};
export const cosine = (a: number[], b: number[]): number => dot(normRow(a), normRow(b));
export const sqDist = (a: number[], b: number[]): number => a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0);
/** log(sum(exp(xs))) computed stably. */
export const logSumExp = (xs: number[]): number => {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
};
export const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;

export function toInputs(views: Matrix[], labels?: number[]): LossInputs {
  return {
    views: views.map((v) => tf.tensor2d(v)),
    labels: labels ? tf.tensor1d(labels, 'int32') : undefined,
  };
}

export function disposeInputs(inputs: LossInputs): void {
  inputs.views.forEach((v) => v.dispose());
  inputs.labels?.dispose();
  inputs.features?.forEach((f) => f.dispose());
  inputs.images?.forEach((i) => i.dispose());
}

/** Loss value and its gradient with respect to every view (as plain arrays). */
export function valueAndGrads(loss: LossModule, views: Matrix[], labels?: number[]): { value: number; grads: Matrix[] } {
  const inputs = toInputs(views, labels);
  const f = (...vs: tf.Tensor[]) => loss.compute({ ...inputs, views: vs as tf.Tensor2D[] });
  const { value, grads } = tf.valueAndGrads(f)(inputs.views);
  const out = { value: value.dataSync()[0], grads: grads.map((g) => g.arraySync() as Matrix) };
  value.dispose();
  grads.forEach((g) => g.dispose());
  disposeInputs(inputs);
  return out;
}

export function lossValue(loss: LossModule, views: Matrix[], labels?: number[]): number {
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
export function expectNoLeakOnCompute(loss: LossModule, views: Matrix[], labels?: number[]): void {
  const inputs = toInputs(views, labels);
  const before = tf.memory().numTensors;
  const v = loss.compute(inputs);
  v.dispose();
  expect(tf.memory().numTensors).toBe(before);
  disposeInputs(inputs);
}

/**
 * Trains a small linear map W (one per view, shared input) for `steps` SGD steps with the loss and
 * asserts that the number of live tensors does not grow; returns the first and last loss value.
 */
export function expectNoLeakOverTraining(
  loss: LossModule,
  opts: { V: number; N: number; D: number; steps?: number; labels?: number[]; seed?: number },
): { first: number; last: number } {
  const steps = opts.steps ?? 100;
  const rng = new Rng(opts.seed ?? 7);
  const x = tf.tensor2d(
    Array.from({ length: opts.V * opts.N }, () => Array.from({ length: 8 }, () => rng.normal())),
  );
  const w = tf.variable(tf.randomNormal([8, opts.D], 0, 0.3, 'float32', 3));
  const labels = opts.labels ? tf.tensor1d(opts.labels, 'int32') : undefined;
  const optimizer = tf.train.sgd(0.05);
  const varList = [w, ...loss.trainableVariables];
  let first = NaN;
  let last = NaN;
  let baseline = -1;
  for (let step = 0; step < steps; step++) {
    const cost = optimizer.minimize(
      () => {
        const z = tf.matMul(x, w);
        const views = tf.split(z, opts.V, 0) as tf.Tensor2D[];
        return loss.compute({ views, labels });
      },
      true,
      varList,
    );
    const value = cost!.dataSync()[0];
    cost!.dispose();
    loss.afterStep?.({ step: step + 1, totalSteps: steps });
    if (step === 0) first = value;
    last = value;
    if (step === 1) baseline = tf.memory().numTensors;
  }
  expect(tf.memory().numTensors).toBe(baseline);
  optimizer.dispose();
  x.dispose();
  w.dispose();
  labels?.dispose();
  return { first, last };
}
