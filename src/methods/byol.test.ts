import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { Network } from '../nn/types';
import { byolTargetDecay, type ByolParams, createByol } from './byol';
import { createLoss } from './registry';
import {
  bindLoss,
  checkPermutationInvarianceOnImages,
  constantPredictor,
  constantProjector,
  expectCopyShifted,
  expectGradsMatchScaled,
  expectNoLeakOnComputeAndStep,
  expectNoLeakOverSiameseTraining,
  forEachEdgeCase,
  lossOnImages,
  plainPredictor,
  predictorWeights,
  projections,
  randomImages,
  scaleProjector,
  shiftTrainableWeights,
  stateArrays,
  tinyNetwork,
  valueAndViewGrads,
  type PredictorWeights,
} from './testing';
import {
  cosine,
  expectAllFinite,
  expectClose,
  expectFiniteOwnGrads,
  numericalGrad,
  randomViews,
  type Matrix,
} from '../losses/testing';
import type { MethodModule } from './types';

const PRED_HIDDEN = 4;
const PARAMS: ByolParams = { baseEma: 0.996, predHidden: PRED_HIDDEN };

function boundByol(
  network: Network,
  params: Partial<Pick<ByolParams, 'baseEma' | 'predHidden'>> = {},
  seed = 11,
): MethodModule {
  const loss = createByol({ ...PARAMS, ...params });
  bindLoss(loss, network, seed);
  return loss;
}

/**
 * Loop-by-loop BYOL with the predictor in plain numbers and the target projections given:
 *   L = mean_i (2 - 2 s(q(z1)_i, t2_i)) + (2 - 2 s(q(z2)_i, t1_i))
 */
function byolReference(online: Matrix[], targets: Matrix[], w: PredictorWeights): number {
  const [p1, p2] = online.map((z) => plainPredictor(z, w));
  const N = online[0].length;
  let total = 0;
  for (let i = 0; i < N; i++)
    total += 2 - 2 * cosine(p1[i], targets[1][i]) + (2 - 2 * cosine(p2[i], targets[0][i]));
  return total / N;
}

describe('byol', () => {
  it('is finite with finite gradients (random, N = 2, D = 1, identical views, zero rows)', () => {
    forEachEdgeCase(boundByol, (loss, views, images) => {
      const { value, grads } = valueAndViewGrads(loss, views, images);
      expectAllFinite(value, grads);
      expect(value).toBeGreaterThanOrEqual(-1e-5);
      expect(value).toBeLessThanOrEqual(8 + 1e-5);
      const inputs = views.map((v) => tf.tensor2d(v));
      expectFiniteOwnGrads(loss, { views: inputs, images });
      tf.dispose(inputs);
    });
  });

  it('matches a loop-by-loop reference in value and gradients (targets held fixed)', () => {
    const D = 3;
    const network = tinyNetwork(5, D);
    const loss = boundByol(network);
    const images = randomImages(6, 2, 5);
    const views = randomViews(7, 2, 5, D);
    // The target starts as an exact copy of the online network.
    const targets = images.map((batch) => projections(network, batch));
    const w = predictorWeights(loss, D, PRED_HIDDEN);
    const { value, grads } = valueAndViewGrads(loss, views, images);
    expectClose(value, byolReference(views, targets, w), 1e-4);
    expectGradsMatchScaled(
      grads,
      numericalGrad((online) => byolReference(online, targets, w), views),
    );
    tf.dispose(images);
    loss.dispose();
    network.dispose();
  });

  it('is invariant to permuting instances, a global scale of the views, and scaling the targets', () => {
    const network = tinyNetwork(5, 3);
    const loss = boundByol(network);
    const images = randomImages(8, 2, 6);
    const views = randomViews(9, 2, 6, 3);
    const base = checkPermutationInvarianceOnImages(loss, views, images, [3, 0, 5, 1, 4, 2]);
    // The predictor's BatchNorm removes a common scale of its input.
    expectClose(
      lossOnImages(
        loss,
        views.map((v) => v.map((row) => row.map((x) => 2.5 * x))),
        images,
      ),
      base,
      1e-4,
    );
    // Tripling the target's projector (kernel and bias) triples every target projection; they enter via cosines.
    scaleProjector(loss, network, 'target', 3);
    expectClose(lossOnImages(loss, views, images), base, 1e-5);
    tf.dispose(images);
    loss.dispose();
    network.dispose();
  });

  it('does not leak tensors on compute + afterStep or over 100 training steps, and training lowers the loss', () => {
    const network = tinyNetwork(5, 3);
    const loss = boundByol(network);
    const images = randomImages(10, 2, 4);
    expectNoLeakOnComputeAndStep(loss, randomViews(11, 2, 4, 3), images, 0);
    const { first, last } = expectNoLeakOverSiameseTraining(loss, network, images, 100);
    expect(last).toBeLessThan(first);
    tf.dispose(images);
    loss.dispose();
    network.dispose();
  });

  it('has the closed-form value 4 - 4 s(b, c) for a constant predictor b and constant targets c', () => {
    // p(z) = b for every row and every target projection is c, so each instance contributes
    // (2 - 2 s(b, c)) + (2 - 2 s(b, c)) and L = 4 - 4 s(b, c), whatever the views.
    const network = tinyNetwork(5, 3);
    const loss = boundByol(network);
    const images = randomImages(12, 2, 4);
    const views = randomViews(13, 2, 4, 3);
    constantPredictor(loss, [2, 0, 0]);
    const cases: [number[], number][] = [
      [[1, 0, 0], 0], // c parallel to b: the minimum
      [[1, 1, 0], 4 - 2 * Math.SQRT2], // s = 1/sqrt(2)
      [[0, 0, 3], 4], // orthogonal
      [[-1, 0, 0], 8], // opposite: the maximum
    ];
    for (const [c, expected] of cases) {
      constantProjector(loss, network, 'target', c);
      expectClose(lossOnImages(loss, views, images), expected, 1e-5);
    }
    tf.dispose(images);
    loss.dispose();
    network.dispose();
  });

  it('moves the target toward the online weights by exactly (1 - tau_k), tau_k on the cosine ramp', () => {
    // tau_k = 1 - (1 - base)(cos(pi k / K) + 1) / 2 with base = 0.9, K = 10:
    //   k = 5: cos(pi / 2) = 0 -> tau = 0.95;  k = 10: cos(pi) = -1 -> tau = 1;  k = 0: tau = base = 0.9.
    expectClose(byolTargetDecay(5, 10, 0.9), 0.95, 1e-12);
    expectClose(byolTargetDecay(10, 10, 0.9), 1, 1e-12);
    expectClose(byolTargetDecay(0, 10, 0.9), 0.9, 1e-12);
    const network = tinyNetwork(5, 3);
    const loss = boundByol(network, { baseEma: 0.9 });
    const initial = stateArrays(loss);
    // Online = target + 0.5 on every trainable weight.
    shiftTrainableWeights(network, 0.5);
    const expectTargetShift = (shift: number): void =>
      expectCopyShifted(network, 'target', initial, stateArrays(loss), shift);
    loss.afterStep!({ step: 5, totalSteps: 10 });
    expectTargetShift(0.05 * 0.5); // gap 0.5 closed by 1 - 0.95
    loss.afterStep!({ step: 10, totalSteps: 10 });
    expectTargetShift(0.025); // tau = 1: unchanged
    loss.afterStep!({ step: 0, totalSteps: 10 });
    expectTargetShift(0.025 + 0.1 * 0.475); // remaining gap 0.475 closed by 1 - 0.9
    loss.dispose();
    network.dispose();
  });

  it('owns its predictor: no trainable variables before bind, gradients reach them after', () => {
    const loss = createByol(PARAMS);
    expect(loss.trainableVariables).toEqual([]);
    const network = tinyNetwork(5, 3);
    bindLoss(loss, network);
    expect(loss.trainableVariables.map((v) => v.shape)).toEqual([[3, 4], [4], [4], [4, 3], [3]]);
    const images = randomImages(14, 2, 4);
    const inputs = randomViews(15, 2, 4, 3).map((v) => tf.tensor2d(v));
    const { value, grads } = tf.variableGrads(
      () => loss.compute({ views: inputs, images }),
      loss.trainableVariables,
    );
    for (const g of Object.values(grads))
      expect(tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0])).toBeGreaterThan(0);
    tf.dispose([value, ...inputs, ...images, ...Object.values(grads)]);
    loss.dispose();
    network.dispose();
  });

  it('round-trips its state (target and predictor) through getState / setState', () => {
    const network = tinyNetwork(5, 3);
    const source = boundByol(network, {}, 1);
    const views = randomViews(16, 2, 4, 3);
    const images = randomImages(17, 2, 4);
    lossOnImages(source, views, images);
    shiftTrainableWeights(network, 0.3);
    source.afterStep!({ step: 1, totalSteps: 10 });
    const saved = source.getState!();
    const savedArrays = stateArrays(source);
    const otherNetwork = tinyNetwork(6, 3);
    const restored = boundByol(otherNetwork, {}, 2);
    expect(
      Math.abs(lossOnImages(restored, views, images) - lossOnImages(source, views, images)),
    ).toBeGreaterThan(1e-4);
    restored.setState!(saved);
    tf.dispose(Object.values(saved));
    expect(stateArrays(restored)).toEqual(savedArrays);
    expectClose(lossOnImages(restored, views, images), lossOnImages(source, views, images), 1e-6);
    tf.dispose(images);
    source.dispose();
    restored.dispose();
    network.dispose();
    otherNetwork.dispose();
  });

  it('rejects bad state, missing images, bad input and out-of-range params with clear errors', () => {
    const network = tinyNetwork(5, 3);
    const views = randomViews(18, 2, 4, 3);
    const images = randomImages(19, 2, 4);
    const unbound = createByol(PARAMS);
    expect(() => lossOnImages(unbound, views, images)).toThrow(/before bind\(\)/);
    expect(() => unbound.getState!()).toThrow(/before bind\(\)/);
    const loss = boundByol(network);
    expect(() => lossOnImages(loss, views, [images[0]])).toThrow(/pass inputs\.images .*got 1/);
    expect(() => lossOnImages(loss, randomViews(20, 2, 4, 2), images)).toThrow(/embedding dim/);
    expect(() => lossOnImages(loss, randomViews(20, 1, 4, 3), images)).toThrow(/needs exactly 2 views/);
    const state = loss.getState!();
    const wrong = { ...state, 'target.0': tf.zeros([1]) };
    expect(() => loss.setState!(wrong)).toThrow(/target\.0 has shape \[1\], expected \[16, 6\]/);
    tf.dispose([...Object.values(state), wrong['target.0'], ...images]);
    loss.dispose();
    expect(() => createLoss('byol', { baseEma: 1.5 })).toThrow(/baseEma must be in \[0, 1\], got 1\.5/);
    expect(() => createLoss('byol', { predHidden: 0 })).toThrow(/predHidden must be in \[1, 8192\], got 0/);
    const defaults = createLoss('byol');
    bindLoss(defaults, network);
    expect(defaults.trainableVariables[0].shape).toEqual([3, 512]);
    defaults.dispose();
    network.dispose();
  });
});
