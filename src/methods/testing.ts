// Test helpers for the methods with a network or predictor (moco, byol, simsiam); imported only by *.test.ts.
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { createNetwork } from '../nn/network';
import { buildMlpHead } from '../nn/heads';
import type { Network } from '../nn/types';
import { Rng, tfjsSeed } from '../nn/random';
import {
  expectClose,
  mean,
  permuteRows,
  randomViews,
  trainCheckingLeaks,
  type Matrix,
} from '../losses/testing';
import type { MethodModule } from './types';

export const IMAGE_SHAPE: [number, number, number] = [4, 4, 1];
const FEATURES = 6;

/**
 * A tiny Network on [4, 4, 1] images: flatten -> Linear(16, 6) -> BatchNorm -> tanh, then a Linear(6, D)
 * projector. tanh (not ReLU) so that no image maps to an all-zero feature row.
 */
export function tinyNetwork(seed: number, embeddingDim: number): Network {
  return createNetwork(() => {
    const input = tf.input({ shape: IMAGE_SHAPE });
    const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
    const dense = tf.layers
      .dense({
        units: FEATURES,
        useBias: false,
        kernelInitializer: tf.initializers.glorotNormal({ seed: tfjsSeed(seed) }),
      })
      .apply(flat) as tf.SymbolicTensor;
    const normed = tf.layers.batchNormalization().apply(dense) as tf.SymbolicTensor;
    const h = tf.layers.activation({ activation: 'tanh' }).apply(normed) as tf.SymbolicTensor;
    const backbone = tf.model({ inputs: input, outputs: h });
    const projector = buildMlpHead(
      FEATURES,
      { layers: 1, hidden: FEATURES, out: embeddingDim, batchNorm: false },
      seed + 1,
      'test_proj',
    );
    return { backbone, projector };
  });
}

/** Indices in network.allWeights (and so in `${prefix}.${i}` state entries) of the projector's kernel and bias. */
export function projectorWeightIndices(network: Network): { kernel: number; bias: number } {
  const kernel = network.backbone.weights.length;
  return { kernel, bias: kernel + 1 };
}

/** V image batches [N, 4, 4, 1] with pixels uniform in [0, 1), from a seed. */
export function randomImages(seed: number, V: number, N: number): tf.Tensor4D[] {
  const rng = new Rng(seed);
  const size = N * IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2];
  return Array.from({ length: V }, () =>
    tf.tensor4d(
      Float32Array.from({ length: size }, () => rng.next()),
      [N, ...IMAGE_SHAPE],
    ),
  );
}

/** The image batches with their instances permuted (same permutation in every batch). */
export function permuteImages(images: tf.Tensor4D[], perm: number[]): tf.Tensor4D[] {
  return tf.tidy(() => images.map((batch) => tf.gather(batch, tf.tensor1d(perm, 'int32')) as tf.Tensor4D));
}

/**
 * Asserts the loss value is unchanged (tol 1e-5) when the instances are permuted alike in the views and in the
 * image batches; returns the value on the unpermuted inputs.
 */
export function checkPermutationInvarianceOnImages(
  loss: MethodModule,
  views: Matrix[],
  images: tf.Tensor4D[],
  permutation: number[],
): number {
  const base = lossOnImages(loss, views, images);
  const permuted = permuteImages(images, permutation);
  expectClose(lossOnImages(loss, permuteRows(views, permutation), permuted), base, 1e-5);
  tf.dispose(permuted);
  return base;
}

/** Calls loss.bind with the network and a seed (totalSteps 100, stepsPerEpoch 10, 2 classes). */
export function bindLoss(loss: MethodModule, network: Network, seed = 11): void {
  expect(loss.bind).toBeDefined();
  loss.bind!({ network, totalSteps: 100, stepsPerEpoch: 10, numClasses: 2, seed });
}

/** The network's projection z = f(images) in training mode, as plain numbers. */
export function projections(network: Network, images: tf.Tensor4D): Matrix {
  const { h, z } = network.forward(images, true);
  const out = z.arraySync() as Matrix;
  tf.dispose([h, z]);
  return out;
}

/** The loss value on plain views and the image batches they came from. */
export function lossOnImages(loss: MethodModule, views: Matrix[], images: tf.Tensor4D[]): number {
  const tensors = views.map((v) => tf.tensor2d(v));
  const value = loss.compute({ views: tensors, images });
  const out = value.dataSync()[0];
  tf.dispose([value, ...tensors]);
  return out;
}

/** The loss value and its gradient with respect to the views listed in `wrt` (the others enter as constants). */
export function valueAndViewGrads(
  loss: MethodModule,
  views: Matrix[],
  images: tf.Tensor4D[],
  wrt: number[] = views.map((_, v) => v),
): { value: number; grads: Matrix[] } {
  const tensors = views.map((v) => tf.tensor2d(v));
  const f = (...xs: tf.Tensor[]) =>
    loss.compute({
      views: tensors.map((t, v) => (wrt.includes(v) ? xs[wrt.indexOf(v)] : t)) as tf.Tensor2D[],
      images,
    });
  const { value, grads } = tf.valueAndGrads(f)(wrt.map((v) => tensors[v]));
  const out = { value: value.dataSync()[0], grads: grads.map((g) => g.arraySync() as Matrix) };
  tf.dispose([value, ...grads, ...tensors]);
  return out;
}

/** Edge-case views for the finiteness property: random, N = 2 with D = 1, identical views, a zero row. */
export function edgeCaseViews(): { name: string; views: Matrix[]; identicalImages: boolean }[] {
  const random = randomViews(1, 2, 4, 3);
  const zeroRow = randomViews(2, 2, 3, 3);
  zeroRow[0][1] = [0, 0, 0];
  zeroRow[1][2] = [0, 0, 0];
  return [
    { name: 'random', views: random, identicalImages: false },
    { name: 'N = 2, D = 1', views: randomViews(3, 2, 2, 1), identicalImages: false },
    { name: 'identical views', views: [random[0], random[0]], identicalImages: true },
    { name: 'zero rows', views: zeroRow, identicalImages: false },
  ];
}

/**
 * Runs `check` on each edge case with a fresh tiny network of the case's embedding dim, a loss bound to it by
 * `bound`, and the image batches the views stand for (one batch twice for identical views); disposes them after.
 */
export function forEachEdgeCase(
  bound: (network: Network) => MethodModule,
  check: (loss: MethodModule, views: Matrix[], images: tf.Tensor4D[]) => void,
): void {
  for (const { views, identicalImages } of edgeCaseViews()) {
    const network = tinyNetwork(3, views[0][0].length);
    const loss = bound(network);
    const images = randomImages(4, 2, views[0].length);
    check(loss, views, identicalImages ? [images[0], images[0]] : images);
    tf.dispose(images);
    loss.dispose();
    network.dispose();
  }
}

/** Every gradient entry within tol * (the largest |expected| entry) of the expected one. */
export function expectGradsMatchScaled(actual: Matrix[], expected: Matrix[], tol = 1e-3): void {
  const scale = Math.max(...expected.flat(2).map(Math.abs));
  actual.forEach((g, v) =>
    g.forEach((row, i) =>
      row.forEach((x, d) => expect(Math.abs(x - expected[v][i][d])).toBeLessThan(tol * scale)),
    ),
  );
}

/** Plain-number copies of a getState() result (every tensor disposed). */
export function stateArrays(loss: MethodModule): Record<string, number | number[] | Matrix> {
  const state = loss.getState!();
  const out = Object.fromEntries(
    Object.entries(state).map(([name, t]) => [name, t.arraySync() as number | number[] | Matrix]),
  );
  tf.dispose(Object.values(state));
  return out;
}

/** Overwrites a variable with plain values of its shape. */
export function setVariable(variable: tf.Variable, values: number | number[] | Matrix): void {
  tf.tidy(() => variable.assign(tf.tensor(values as number[], variable.shape)));
}

/** Adds `delta` to every trainable weight of the network. */
export function shiftTrainableWeights(network: Network, delta: number): void {
  tf.tidy(() => network.trainableVariables.forEach((v) => v.assign(tf.add(v, delta))));
}

/** A plain vector or matrix times c. */
export function scaled(values: number | number[] | Matrix, c: number): number[] | Matrix {
  return (values as number[] | Matrix).map((r) => (Array.isArray(r) ? r.map((x) => c * x) : c * r)) as
    number[] | Matrix;
}

/** Replaces some entries of loss.getState() with plain values, keeps the rest, and restores it with setState. */
export function patchState(loss: MethodModule, patch: Record<string, number | number[] | Matrix>): void {
  const state = loss.getState!();
  const patched = { ...state };
  for (const [name, values] of Object.entries(patch))
    patched[name] = tf.tensor(values as number[], state[name].shape, state[name].dtype);
  loss.setState!(patched);
  tf.dispose([...Object.values(state), ...Object.values(patched)]);
}

/** Gives the state copy `prefix` of the network (key encoder, target) a projector with zero kernel and bias c: output c. */
export function constantProjector(loss: MethodModule, network: Network, prefix: string, c: number[]): void {
  const { kernel, bias } = projectorWeightIndices(network);
  const zeros = tf.tidy(() => tf.zeros(network.allWeights[kernel].shape as number[]).arraySync() as Matrix);
  patchState(loss, { [`${prefix}.${kernel}`]: zeros, [`${prefix}.${bias}`]: c });
}

/** Multiplies the projector (kernel and bias) of the state copy `prefix` of the network by c: outputs times c. */
export function scaleProjector(loss: MethodModule, network: Network, prefix: string, c: number): void {
  const { kernel, bias } = projectorWeightIndices(network);
  const state = stateArrays(loss);
  patchState(loss, {
    [`${prefix}.${kernel}`]: scaled(state[`${prefix}.${kernel}`], c),
    [`${prefix}.${bias}`]: scaled(state[`${prefix}.${bias}`], c),
  });
}

/** Makes the predictor (loss.trainableVariables) output the constant b: zero output kernel, output bias b. */
export function constantPredictor(loss: MethodModule, b: number[]): void {
  const [, , , outKernel, outBias] = loss.trainableVariables;
  tf.tidy(() => outKernel.assign(tf.zerosLike(outKernel)));
  setVariable(outBias, b);
}

/**
 * Asserts that every trainable weight of the state copy `prefix` of the network moved by `shift` from `before`
 * and every non-trainable one (BatchNorm moving statistics) stayed.
 */
export function expectCopyShifted(
  network: Network,
  prefix: string,
  before: Record<string, number | number[] | Matrix>,
  after: Record<string, number | number[] | Matrix>,
  shift: number,
): void {
  network.allWeights.forEach((weight, i) => {
    const expected = ([before[`${prefix}.${i}`]].flat(2) as number[]).map(
      (x) => x + (weight.trainable ? shift : 0),
    );
    const actual = [after[`${prefix}.${i}`]].flat(2) as number[];
    actual.forEach((x, j) => expect(Math.abs(x - expected[j])).toBeLessThan(1e-6));
  });
}

/** Weights of the predictor Linear(D, H) -> BN -> ReLU -> Linear(H, D), read from loss.trainableVariables. */
export interface PredictorWeights {
  hiddenKernel: Matrix;
  gamma: number[];
  beta: number[];
  outKernel: Matrix;
  outBias: number[];
}

export function predictorWeights(loss: MethodModule, D: number, H: number): PredictorWeights {
  const vars = loss.trainableVariables;
  expect(vars.map((v) => v.shape)).toEqual([[D, H], [H], [H], [H, D], [D]]);
  const [hiddenKernel, gamma, beta, outKernel, outBias] = vars.map((v) => v.arraySync());
  return {
    hiddenKernel: hiddenKernel as Matrix,
    gamma: gamma as number[],
    beta: beta as number[],
    outKernel: outKernel as Matrix,
    outBias: outBias as number[],
  };
}

/**
 * The predictor in plain numbers, training mode: u = z W0; BatchNorm with the batch mean and biased batch
 * variance (eps 1e-5), then gamma, beta; ReLU; p = r W1 + b1.
 */
export function plainPredictor(z: Matrix, w: PredictorWeights): Matrix {
  const H = w.gamma.length;
  const D = w.outBias.length;
  const hidden = z.map((row) =>
    Array.from({ length: H }, (_, k) => row.reduce((s, x, d) => s + x * w.hiddenKernel[d][k], 0)),
  );
  for (let k = 0; k < H; k++) {
    const column = hidden.map((row) => row[k]);
    const mu = mean(column);
    const variance = mean(column.map((x) => (x - mu) ** 2));
    for (const row of hidden)
      row[k] = Math.max(0, ((row[k] - mu) / Math.sqrt(variance + 1e-5)) * w.gamma[k] + w.beta[k]);
  }
  return hidden.map((row) =>
    Array.from({ length: D }, (_, d) => row.reduce((s, x, k) => s + x * w.outKernel[k][d], w.outBias[d])),
  );
}

/**
 * Asserts that compute + dispose of the value + afterStep leaves tf.memory().numTensors unchanged, and that
 * between compute and afterStep exactly `heldUntilStep` extra tensors live (moco keeps its new keys).
 */
export function expectNoLeakOnComputeAndStep(
  loss: MethodModule,
  views: Matrix[],
  images: tf.Tensor4D[],
  heldUntilStep: number,
): void {
  const viewTensors = views.map((v) => tf.tensor2d(v));
  const before = tf.memory().numTensors;
  const value = loss.compute({ views: viewTensors, images });
  value.dispose();
  expect(tf.memory().numTensors).toBe(before + heldUntilStep);
  loss.afterStep?.({ step: 1, totalSteps: 10 });
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose(viewTensors);
}

/**
 * Trains the network (and the loss's own variables) with SGD for `steps` steps on fixed images, the way the
 * trainer does: views = network(images), loss.compute({ views, images }), optimizer step, loss.afterStep.
 * Asserts that the number of live tensors does not grow; returns the first and last loss values.
 */
export function expectNoLeakOverSiameseTraining(
  loss: MethodModule,
  network: Network,
  images: tf.Tensor4D[],
  steps = 100,
): { first: number; last: number } {
  const views = () => images.map((batch) => network.forward(batch, true).z);
  return trainCheckingLeaks(loss, network.trainableVariables, () => ({ views: views(), images }), steps);
}
