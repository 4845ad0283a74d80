import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { Network } from '../nn/types';
import { createLoss } from './registry';
import { enqueueSources, type MocoParams, createMoco } from './moco';
import {
  bindLoss,
  checkPermutationInvarianceOnImages,
  constantProjector,
  expectCopyShifted,
  expectGradsMatchScaled,
  expectNoLeakOnComputeAndStep,
  expectNoLeakOverSiameseTraining,
  forEachEdgeCase,
  lossOnImages,
  patchState,
  projections,
  randomImages,
  scaleProjector,
  shiftTrainableWeights,
  stateArrays,
  tinyNetwork,
  valueAndViewGrads,
} from './testing';
import {
  dot,
  expectAllFinite,
  expectClose,
  logSumExp,
  mean,
  normRow,
  numericalGrad,
  randomViews,
  type Matrix,
} from '../losses/testing';
import type { MethodModule } from './types';

const PARAMS: MocoParams = { K: 6, m: 0.99, tau: 0.2 };

function boundMoco(
  network: Network,
  params: Partial<Pick<MocoParams, 'K' | 'm' | 'tau'>> = {},
  seed = 11,
): MethodModule {
  const loss = createMoco({ ...PARAMS, ...params });
  bindLoss(loss, network, seed);
  return loss;
}

/**
 * Loop-by-loop MoCo: q_i = norm(queries_i), k_i = norm(keys_i), logits = [q.k_i, q.queue_1..K] / tau,
 * l_i = LSE(logits) - logits[0], L = mean_i l_i.
 */
function mocoReference(queries: Matrix, keys: Matrix, queue: Matrix, tau: number): number {
  return mean(
    queries.map((row, i) => {
      const q = normRow(row);
      const logits = [dot(q, normRow(keys[i])) / tau, ...queue.map((negative) => dot(q, negative) / tau)];
      return logSumExp(logits) - logits[0];
    }),
  );
}

const rowsClose = (actual: number[], expected: number[], tol = 1e-5): void =>
  actual.forEach((x, d) => expect(Math.abs(x - expected[d])).toBeLessThan(tol));

describe('moco', () => {
  it('is finite with finite query gradients (random, N = 2, D = 1, identical views, zero rows)', () => {
    forEachEdgeCase(boundMoco, (loss, views, images) => {
      // views[1] does not enter the loss (its keys come from images[1]), so differentiate with respect to views[0].
      const { value, grads } = valueAndViewGrads(loss, views, images, [0]);
      expectAllFinite(value, grads);
    });
  });

  it('matches a loop-by-loop reference in value and query gradient', () => {
    const network = tinyNetwork(5, 3);
    const loss = boundMoco(network);
    const images = randomImages(6, 2, 5);
    const views = randomViews(7, 2, 5, 3);
    // The key encoder starts as an exact copy of the online network.
    const keys = projections(network, images[1]);
    const queue = stateArrays(loss).queue as Matrix;
    const {
      value,
      grads: [grad],
    } = valueAndViewGrads(loss, views, images, [0]);
    expectClose(value, mocoReference(views[0], keys, queue, PARAMS.tau), 1e-4);
    const expected = numericalGrad(
      ([queries]) => mocoReference(queries, keys, queue, PARAMS.tau),
      [views[0]],
    );
    expectGradsMatchScaled([grad], expected);
    tf.dispose(images);
    loss.dispose();
    network.dispose();
  });

  it('is invariant to permuting instances, scaling query rows, and scaling the keys', () => {
    const network = tinyNetwork(5, 3);
    const loss = boundMoco(network);
    const images = randomImages(8, 2, 5);
    const views = randomViews(9, 2, 5, 3);
    const base = checkPermutationInvarianceOnImages(loss, views, images, [2, 4, 0, 1, 3]);
    const scaledQueries = views[0].map((row, i) => row.map((x) => x * (0.3 + 1.7 * i)));
    expectClose(lossOnImages(loss, [scaledQueries, views[1]], images), base, 1e-5);
    // Tripling the key encoder's projector (kernel and bias) triples every key; keys are normalised.
    scaleProjector(loss, network, 'keyEncoder', 3);
    expectClose(lossOnImages(loss, views, images), base, 1e-5);
    tf.dispose(images);
    loss.dispose();
    network.dispose();
  });

  it('does not leak tensors on compute + afterStep or over 100 training steps', () => {
    const network = tinyNetwork(5, 3);
    const loss = boundMoco(network);
    const images = randomImages(10, 2, 4);
    // Between compute and afterStep exactly one extra tensor lives: the keys waiting to be enqueued.
    expectNoLeakOnComputeAndStep(loss, randomViews(11, 2, 4, 3), images, 1);
    const { first, last } = expectNoLeakOverSiameseTraining(loss, network, images, 100);
    expect(Number.isFinite(first) && Number.isFinite(last)).toBe(true);
    tf.dispose(images);
    loss.dispose();
    network.dispose();
  });

  it('has closed-form values when keys and queue are constant', () => {
    const network = tinyNetwork(5, 3);
    const images = randomImages(12, 2, 4);
    const views = randomViews(13, 2, 4, 3);
    for (const tau of [0.1, 0.5]) {
      const loss = boundMoco(network, { K: 5, tau });
      // (a) every key and every queue entry is the same unit vector u: all K + 1 logits of a query are equal,
      //     so l_i = LSE of K + 1 equal numbers - one of them = log(K + 1), whatever the queries.
      constantProjector(loss, network, 'keyEncoder', [2, -1, 2]);
      const u = normRow([2, -1, 2]);
      patchState(loss, { queue: Array.from({ length: 5 }, () => u) });
      expectClose(lossOnImages(loss, views, images), Math.log(6), 1e-5);
      // (b) keys e_1, queue entries all e_2, queries positive multiples of e_1: logits [1/tau, 0, ..., 0],
      //     so l_i = log(e^(1/tau) + K) - 1/tau = log(1 + K e^(-1/tau)).
      constantProjector(loss, network, 'keyEncoder', [1, 0, 0]);
      patchState(loss, { queue: Array.from({ length: 5 }, () => [0, 1, 0]) });
      const queries = [0.5, 1, 2, 3].map((c) => [c, 0, 0]);
      expectClose(
        lossOnImages(loss, [queries, views[1]], images),
        Math.log(1 + 5 * Math.exp(-1 / tau)),
        1e-5,
      );
      loss.dispose();
    }
    tf.dispose(images);
    network.dispose();
  });

  it('starts with a seeded queue of random unit vectors', () => {
    const network = tinyNetwork(5, 3);
    const queueOf = (seed: number): Matrix => {
      const loss = boundMoco(network, {}, seed);
      const queue = stateArrays(loss).queue as Matrix;
      loss.dispose();
      return queue;
    };
    const queue = queueOf(1);
    expect(queue.length).toBe(PARAMS.K);
    for (const row of queue) expectClose(Math.sqrt(dot(row, row)), 1, 1e-5);
    expect(queueOf(1)).toEqual(queue);
    expect(queueOf(2)).not.toEqual(queue);
    network.dispose();
  });

  it('enqueues the keys after the step, as a ring buffer whose pointer wraps', () => {
    expect(enqueueSources(5, 3, 3)).toEqual([7, 1, 2, 5, 6]);
    expect(enqueueSources(2, 0, 3)).toEqual([4, 3]);
    const network = tinyNetwork(5, 3);
    const loss = boundMoco(network, { K: 5 });
    const initial = stateArrays(loss).queue as Matrix;
    const views = randomViews(14, 2, 3, 3);
    const batchA = randomImages(15, 2, 3);
    const batchB = randomImages(16, 2, 3);
    const keysA = projections(network, batchA[1]).map(normRow);
    const keysB = projections(network, batchB[1]).map(normRow);
    lossOnImages(loss, views, batchA);
    // compute alone does not touch the queue (the loss of a step uses the old queue).
    expect(stateArrays(loss).queue).toEqual(initial);
    loss.afterStep!({ step: 1, totalSteps: 10 });
    let state = stateArrays(loss);
    let queue = state.queue as Matrix;
    [keysA[0], keysA[1], keysA[2], initial[3], initial[4]].forEach((row, s) => rowsClose(queue[s], row));
    expect(state.queuePointer).toBe(3);
    // Step 2 is scored against the queue after step 1, then its keys fill slots 3, 4 and wrap to 0.
    expectClose(lossOnImages(loss, views, batchB), mocoReference(views[0], keysB, queue, PARAMS.tau), 1e-4);
    loss.afterStep!({ step: 2, totalSteps: 10 });
    state = stateArrays(loss);
    queue = state.queue as Matrix;
    [keysB[2], keysA[1], keysA[2], keysB[0], keysB[1]].forEach((row, s) => rowsClose(queue[s], row));
    expect(state.queuePointer).toBe(1);
    loss.dispose();
    // K smaller than the batch: the queue keeps the newest K keys (key 2 overwrote key 0 in slot 0).
    const small = boundMoco(network, { K: 2 });
    lossOnImages(small, views, batchA);
    small.afterStep!({ step: 1, totalSteps: 10 });
    state = stateArrays(small);
    queue = state.queue as Matrix;
    rowsClose(queue[0], keysA[2]);
    rowsClose(queue[1], keysA[1]);
    expect(state.queuePointer).toBe(1);
    small.dispose();
    tf.dispose([...batchA, ...batchB]);
    network.dispose();
  });

  it('moves the key encoder by theta_k <- m theta_k + (1 - m) theta_q after each step', () => {
    const network = tinyNetwork(5, 3);
    const loss = boundMoco(network, { m: 0.9 });
    const before = stateArrays(loss);
    // Shift every online trainable weight by +0.5: the key weights must move by exactly (1 - m) * 0.5 = 0.05.
    // (BatchNorm moving statistics are not momentum-updated: they follow the key encoder's own forward passes.)
    shiftTrainableWeights(network, 0.5);
    loss.afterStep!({ step: 1, totalSteps: 10 });
    expectCopyShifted(network, 'keyEncoder', before, stateArrays(loss), 0.05);
    loss.dispose();
    network.dispose();
  });

  it('round-trips its state (queue, pointer, key encoder) through getState / setState', () => {
    const network = tinyNetwork(5, 3);
    const source = boundMoco(network, {}, 1);
    const views = randomViews(17, 2, 4, 3);
    const images = randomImages(18, 2, 4);
    for (let step = 1; step <= 2; step++) {
      lossOnImages(source, views, images);
      source.afterStep!({ step, totalSteps: 10 });
    }
    const saved = source.getState!();
    const savedArrays = stateArrays(source);
    expect(savedArrays.queuePointer).toBe(2);
    const otherNetwork = tinyNetwork(6, 3);
    const restored = boundMoco(otherNetwork, {}, 2);
    expect(
      Math.abs(lossOnImages(restored, views, images) - lossOnImages(source, views, images)),
    ).toBeGreaterThan(1e-4);
    restored.setState!(saved);
    tf.dispose(Object.values(saved));
    expect(stateArrays(restored)).toEqual(savedArrays);
    expectClose(lossOnImages(restored, views, images), lossOnImages(source, views, images), 1e-6);
    // Both enqueue the same keys into the same slots on the next step.
    restored.afterStep!({ step: 3, totalSteps: 10 });
    source.afterStep!({ step: 3, totalSteps: 10 });
    expect(stateArrays(restored).queue).toEqual(stateArrays(source).queue);
    tf.dispose(images);
    source.dispose();
    restored.dispose();
    network.dispose();
    otherNetwork.dispose();
  });

  it('rejects bad state, missing images, bad input and out-of-range params with clear errors', () => {
    const network = tinyNetwork(5, 3);
    const views = randomViews(19, 2, 4, 3);
    const images = randomImages(20, 2, 4);
    const unbound = createMoco(PARAMS);
    expect(() => lossOnImages(unbound, views, images)).toThrow(/before bind\(\)/);
    expect(() => unbound.afterStep!({ step: 1, totalSteps: 1 })).toThrow(/before bind\(\)/);
    const loss = boundMoco(network);
    expect(() => lossOnImages(loss, views, [])).toThrow(/pass inputs\.images/);
    const fewer = randomImages(21, 2, 3);
    expect(() => lossOnImages(loss, views, fewer)).toThrow(
      /images\[0\] has 3 images but views\[0\] has 4 rows/,
    );
    expect(() => lossOnImages(loss, randomViews(22, 3, 4, 3), images)).toThrow(/needs exactly 2 views/);
    expect(() => patchState(loss, { queuePointer: PARAMS.K })).toThrow(
      /queuePointer must be an integer in \[0, 5\]/,
    );
    const state = loss.getState!();
    const { queue, ...withoutQueue } = state;
    expect(() => loss.setState!(withoutQueue)).toThrow(/missing queue/);
    tf.dispose([queue, ...Object.values(withoutQueue), ...images, ...fewer]);
    loss.dispose();
    expect(() => createLoss('moco', { m: 1.5 })).toThrow(/m must be in \[0, 1\], got 1\.5/);
    expect(() => createLoss('moco', { K: 0 })).toThrow(/K must be in \[1, 65536\], got 0/);
    expect(() => createLoss('moco', { K: 10.5 })).toThrow(/K must be an integer/);
    expect(() => createLoss('moco', { tau: 0 })).toThrow(/tau must be in \[0\.01, 10\], got 0/);
    const defaults = createLoss('moco');
    bindLoss(defaults, network);
    const defaultState = defaults.getState!();
    expect(defaultState.queue.shape).toEqual([4096, 3]);
    tf.dispose(Object.values(defaultState));
    defaults.dispose();
    network.dispose();
  });
});
