import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createLoss } from './registry';
import { createSimsiam } from './simsiam';
import {
  bindLoss,
  constantPredictor,
  edgeCaseViews,
  expectGradsMatchScaled,
  expectNoLeakOverSiameseTraining,
  plainPredictor,
  predictorWeights,
  randomImages,
  stateArrays,
  tinyNetwork,
  type PredictorWeights,
} from './testing';
import {
  cosine,
  expectAllFinite,
  expectClose,
  expectFiniteOwnGrads,
  expectNoLeakOnCompute,
  lossValue,
  numericalGrad,
  permuteRows,
  randomViews,
  valueAndGrads,
  type Matrix,
} from '../losses/testing';
import type { MethodModule } from './types';

const PRED_HIDDEN = 4;

/** A simsiam module bound to a tiny network with embedding dim D. */
function boundSimsiam(D: number, seed = 11, predHidden = PRED_HIDDEN): MethodModule {
  const loss = createSimsiam({ predHidden, stopGradient: 1, predictor: 1 });
  const network = tinyNetwork(3, D);
  bindLoss(loss, network, seed);
  network.dispose(); // simsiam keeps only its predictor
  return loss;
}

/**
 * Loop-by-loop SimSiam with the predictor p in plain numbers; `targets` are the stop-gradient inputs
 * (equal to `online` for the loss value; held fixed for the gradient).
 *   L = -( mean_i s(p(z1)_i, z2_i) + mean_i s(p(z2)_i, z1_i) ) / 2
 */
function simsiamReference(online: Matrix[], targets: Matrix[], w: PredictorWeights): number {
  const [p1, p2] = online.map((z) => plainPredictor(z, w));
  const N = online[0].length;
  let total = 0;
  for (let i = 0; i < N; i++) total += cosine(p1[i], targets[1][i]) + cosine(p2[i], targets[0][i]);
  return -total / (2 * N);
}

describe('simsiam', () => {
  it('is finite with finite gradients (random, N = 2, D = 1, identical views, zero rows)', () => {
    for (const { views } of edgeCaseViews()) {
      const loss = boundSimsiam(views[0][0].length);
      const { value, grads } = valueAndGrads(loss, views);
      expectAllFinite(value, grads);
      expect(value).toBeGreaterThanOrEqual(-1 - 1e-5);
      expect(value).toBeLessThanOrEqual(1 + 1e-5);
      const inputs = views.map((v) => tf.tensor2d(v));
      expectFiniteOwnGrads(loss, { views: inputs });
      tf.dispose(inputs);
      loss.dispose();
    }
  });

  it('matches a loop-by-loop reference, and its gradient is the stop-gradient one', () => {
    const D = 3;
    const views = randomViews(4, 2, 5, D);
    const loss = boundSimsiam(D);
    const w = predictorWeights(loss, D, PRED_HIDDEN);
    const { value, grads } = valueAndGrads(loss, views);
    expectClose(value, simsiamReference(views, views, w), 1e-4);
    // Gradients flow only through the predictor branch: differentiate with the targets held fixed.
    const expected = numericalGrad((online) => simsiamReference(online, views, w), views);
    expectGradsMatchScaled(grads, expected);
    const scale = Math.max(...expected.flat(2).map(Math.abs));
    // Without the stop-gradient the gradient would be this one, which is clearly different.
    const withoutStop = numericalGrad((z) => simsiamReference(z, z, w), views);
    const gap = Math.max(...withoutStop.flat(2).map((x, k) => Math.abs(x - grads.flat(2)[k])));
    expect(gap).toBeGreaterThan(10 * 1e-3 * scale);
    loss.dispose();
  });

  it('without the stop-gradient (stopGradient = 0) its gradient is the full one through both branches', () => {
    const D = 3;
    const views = randomViews(4, 2, 5, D);
    const loss = createSimsiam({ predHidden: PRED_HIDDEN, stopGradient: 0, predictor: 1 });
    const network = tinyNetwork(3, D);
    bindLoss(loss, network, 11);
    network.dispose();
    const w = predictorWeights(loss, D, PRED_HIDDEN);
    const { value, grads } = valueAndGrads(loss, views);
    expectClose(value, simsiamReference(views, views, w), 1e-4);
    expectGradsMatchScaled(
      grads,
      numericalGrad((z) => simsiamReference(z, z, w), views),
    );
    loss.dispose();
  });

  it('without the predictor (predictor = 0) p = z: no own variables, no state, -mean cosine of the views', () => {
    const D = 3;
    const views = randomViews(5, 2, 6, D);
    const reference = (online: Matrix[], targets: Matrix[]) => {
      const N = online[0].length;
      let total = 0;
      for (let i = 0; i < N; i++)
        total += cosine(online[0][i], targets[1][i]) + cosine(online[1][i], targets[0][i]);
      return -total / (2 * N);
    };
    for (const stop of [1, 0]) {
      const loss = createLoss('simsiam', { predictor: 0, stopGradient: stop });
      const network = tinyNetwork(3, D);
      bindLoss(loss, network);
      network.dispose();
      expect(loss.trainableVariables).toEqual([]);
      expect(loss.getState!()).toEqual({});
      loss.setState!({});
      const { value, grads } = valueAndGrads(loss, views);
      expectClose(value, reference(views, views), 1e-5);
      const expected =
        stop === 1
          ? numericalGrad((online) => reference(online, views), views)
          : numericalGrad((z) => reference(z, z), views);
      expectGradsMatchScaled(grads, expected);
      loss.dispose();
    }
  });

  it('is invariant to permuting instances and to a global positive scale of the views', () => {
    const views = randomViews(5, 2, 6, 3);
    const loss = boundSimsiam(3);
    const base = lossValue(loss, views);
    expectClose(lossValue(loss, permuteRows(views, [3, 0, 5, 1, 4, 2])), base, 1e-5);
    // The predictor's BatchNorm removes a common scale of its input; the targets enter only through cosines.
    expectClose(
      lossValue(
        loss,
        views.map((v) => v.map((row) => row.map((x) => 2.5 * x))),
      ),
      base,
      1e-4,
    );
    loss.dispose();
  });

  it('does not leak tensors on compute or over 100 training steps, and training lowers the loss', () => {
    const loss = boundSimsiam(3);
    expectNoLeakOnCompute(loss, randomViews(6, 2, 4, 3));
    loss.dispose();
    const network = tinyNetwork(5, 3);
    const trained = createSimsiam({ predHidden: PRED_HIDDEN, stopGradient: 1, predictor: 1 });
    bindLoss(trained, network);
    const images = randomImages(7, 2, 4);
    const { first, last } = expectNoLeakOverSiameseTraining(trained, network, images, 100);
    expect(last).toBeLessThan(first);
    tf.dispose(images);
    trained.dispose();
    network.dispose();
  });

  it('has the closed-form value of a constant predictor', () => {
    // With the predictor's output kernel zeroed, p(z) = b for every row, so
    //   L = -( mean_i s(b, z2_i) + mean_i s(b, z1_i) ) / 2.
    const loss = boundSimsiam(3);
    // (a) identical views whose rows are positive multiples of b: every cosine is 1, L = -1 (the minimum).
    constantPredictor(loss, [1, -2, 0.5]);
    const aligned = [0.5, 3, 1.7].map((c) => [c, -2 * c, 0.5 * c]);
    expectClose(lossValue(loss, [aligned, aligned]), -1, 1e-5);
    // (b) b = (1, 1, 1) and rows e_1, e_2, e_3 in both views: s(b, e_k) = 1 / sqrt(3), L = -1 / sqrt(3).
    constantPredictor(loss, [1, 1, 1]);
    const basis = [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ];
    expectClose(lossValue(loss, [basis, basis]), -1 / Math.sqrt(3), 1e-5);
    // (c) view 2 = -view 1: the two terms are -1/sqrt(3) and +1/sqrt(3), L = 0.
    expectClose(lossValue(loss, [basis, basis.map((row) => row.map((x) => -x))]), 0, 1e-5);
    loss.dispose();
  });

  it('round-trips its state through getState / setState', () => {
    const views = randomViews(8, 2, 4, 3);
    const source = boundSimsiam(3, 1);
    lossValue(source, views); // moves the BatchNorm moving statistics away from their initial values
    const saved = source.getState!();
    const savedArrays = stateArrays(source);
    const restored = boundSimsiam(3, 2);
    expect(Math.abs(lossValue(restored, views) - lossValue(source, views))).toBeGreaterThan(1e-4);
    restored.setState!(saved);
    tf.dispose(Object.values(saved));
    expect(stateArrays(restored)).toEqual(savedArrays);
    expectClose(lossValue(restored, views), lossValue(source, views), 1e-6);
    source.dispose();
    restored.dispose();
  });

  it('rejects bad state, bad input and out-of-range params with clear errors', () => {
    const loss = boundSimsiam(3);
    const state = loss.getState!();
    const missing = { ...state };
    delete missing['predictor.4'];
    expect(() => loss.setState!(missing)).toThrow(/missing predictor\.4/);
    const wrongShape = { ...state, 'predictor.0': tf.zeros([2, 2]) };
    expect(() => loss.setState!(wrongShape)).toThrow(/predictor\.0 has shape \[2, 2\], expected \[3, 4\]/);
    tf.dispose([...Object.values(state), wrongShape['predictor.0']]);
    expect(() => lossValue(loss, randomViews(9, 3, 4, 3))).toThrow(/needs exactly 2 views/);
    expect(() => lossValue(loss, randomViews(9, 2, 4, 5))).toThrow(/embedding dim/);
    loss.dispose();
    expect(() =>
      lossValue(createSimsiam({ predHidden: 4, stopGradient: 1, predictor: 1 }), randomViews(9, 2, 4, 3)),
    ).toThrow(/before bind\(\)/);
    expect(() => createLoss('simsiam', { predHidden: 0 })).toThrow(
      /predHidden must be in \[1, 8192\], got 0/,
    );
    expect(() => createLoss('simsiam', { predHidden: 2.5 })).toThrow(/predHidden must be an integer/);
    expect(() => createLoss('simsiam', { stopGradient: 0.5 })).toThrow(/stopGradient must be an integer/);
    expect(() => createLoss('simsiam', { predictor: 2 })).toThrow(/predictor must be in \[0, 1\], got 2/);
    const defaults = createLoss('simsiam');
    const network = tinyNetwork(3, 3);
    bindLoss(defaults, network);
    expect(defaults.trainableVariables[0].shape).toEqual([3, 512]);
    defaults.dispose();
    network.dispose();
  });
});
