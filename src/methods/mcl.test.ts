import * as tf from '@tensorflow/tfjs';
import { describe, expect, it, vi } from 'vitest';
import { mclStageLoss } from '../losses/mcl';
import { randomViews, type Matrix } from '../losses/testing';
import { Rng } from '../nn/random';
import type { Network } from '../nn/types';
import { createMcl, refineGroups, type MclParams } from './mcl';
import { randomImages, tinyNetwork } from './testing';
import type { StepBoundaryContext } from './types';

const TRAIN = 12;
const params = (overrides: Partial<MclParams> = {}): MclParams => ({
  tau: 0.5,
  stages: 3,
  clusters: 2,
  stageSteps: 10,
  reinit: 1,
  ...overrides,
});

/** Features [TRAIN, 6]: two tight clusters split by `side(i)` along `axis`. */
function clusteredFeatures(side: (i: number) => boolean, axis: number, seed: number): tf.Tensor2D {
  const rng = new Rng(seed);
  const values = Array.from({ length: TRAIN }, (_, i) =>
    Array.from({ length: 6 }, (_, d) => (d === axis ? (side(i) ? 5 : -5) : 0) + 0.05 * rng.normal() + 1),
  );
  return tf.tensor2d(values);
}

/** A boundary context whose embedTrain returns the next of `features` (cloned), recording resets. */
function context(step: number, features: tf.Tensor2D[], resets: { count: number }): StepBoundaryContext {
  return {
    step,
    totalSteps: 100,
    embedTrain: async () => {
      const next = features.shift();
      if (!next) throw new Error('no more features');
      return next;
    },
    resetOptimizer: () => {
      resets.count += 1;
    },
  };
}

function bound(p: MclParams, network: Network) {
  const loss = createMcl(p);
  loss.bind({ network, totalSteps: 100, stepsPerEpoch: 10, numClasses: 2, seed: 5, trainCount: TRAIN });
  return loss;
}

const weightsOf = (network: Network): number[][] =>
  network.allWeights.map((w) => Array.from(w.read().dataSync()));

/** Two partitions equal up to renaming. */
function samePartition(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  const map = new Map<number, number>();
  const back = new Map<number, number>();
  for (let i = 0; i < a.length; i++) {
    if ((map.get(a[i]) ?? b[i]) !== b[i] || (back.get(b[i]) ?? a[i]) !== a[i]) return false;
    map.set(a[i], b[i]);
    back.set(b[i], a[i]);
  }
  return true;
}

describe('mcl method', () => {
  it('refineGroups intersects the old groups with the new clusters, numbered densely', () => {
    expect(
      Array.from(refineGroups(Int32Array.from([0, 0, 1, 1, 1]), Int32Array.from([1, 0, 1, 1, 0]), 2)),
    ).toEqual([0, 1, 2, 2, 3]);
  });

  it('refuses a run too short for its stages and a binding without trainCount', () => {
    const network = tinyNetwork(1, 4);
    expect(() =>
      createMcl(params({ stages: 4, stageSteps: 40 })).bind({
        network,
        totalSteps: 100,
        stepsPerEpoch: 10,
        numClasses: 2,
        seed: 1,
        trainCount: TRAIN,
      }),
    ).toThrow('mcl: 4 stages of 40 steps need more than 120 steps, the run has 100');
    expect(() =>
      createMcl(params()).bind({ network, totalSteps: 100, stepsPerEpoch: 10, numClasses: 2, seed: 1 }),
    ).toThrow('bind() needs trainCount');
    // stageSteps 0 splits the run evenly
    const even = bound(params({ stageSteps: 0 }), network);
    expect(even.stageLength).toBe(33);
    even.dispose();
    network.dispose();
  });

  it('clusters at each stage boundary, intersects the clusters, freezes the stage and restarts the network', async () => {
    const network = tinyNetwork(2, 4);
    const initial = weightsOf(network);
    const loss = bound(params(), network);
    const resets = { count: 0 };
    const firstSplit = (i: number) => i % 2 === 0;
    const secondSplit = (i: number) => i < TRAIN / 2;
    const features = [clusteredFeatures(firstSplit, 0, 1), clusteredFeatures(secondSplit, 3, 2)];
    const embedded = vi.fn();

    for (let step = 0; step < 10; step++) await loss.atStepBoundary(context(step, features, resets));
    expect(loss.stage()).toBe(1);
    expect(Array.from(loss.groups!)).toEqual(new Array(TRAIN).fill(0));

    // stage 1 trained: the network moved away from its initial weights
    tf.tidy(() => network.trainableVariables.forEach((v) => v.assign(tf.add(v, 0.5))));
    const trained = weightsOf(network);
    await loss.atStepBoundary({
      ...context(10, features, resets),
      embedTrain: async () => (embedded(), features.shift()!),
    });
    expect(embedded).toHaveBeenCalledTimes(1);
    expect(loss.stage()).toBe(2);
    expect(
      samePartition(
        loss.groups!,
        Int32Array.from({ length: TRAIN }, (_, i) => (firstSplit(i) ? 1 : 0)),
      ),
    ).toBe(true);
    expect(weightsOf(network)).toEqual(initial); // reinit = 1: back to the initial weights
    expect(resets.count).toBe(1);
    // the same boundary again (a resumed run) changes nothing
    await loss.atStepBoundary(context(10, [], resets));
    expect(loss.stage()).toBe(2);

    // stage 3 contrasts within the intersection of both stages' clusters: 4 groups
    await loss.atStepBoundary(context(20, features, resets));
    expect(loss.stage()).toBe(3);
    const expected = Int32Array.from(
      { length: TRAIN },
      (_, i) => (firstSplit(i) ? 2 : 0) + (secondSplit(i) ? 1 : 0),
    );
    expect(samePartition(loss.groups!, expected)).toBe(true);
    await loss.atStepBoundary(context(90, [], resets)); // the last stage runs to the end
    expect(loss.stage()).toBe(3);

    // the frozen stage-1 network holds the trained weights: evalFeatures concatenates [stage 1, stage 2, now]
    const images = randomImages(3, 1, 5)[0];
    const state = loss.getState();
    const frozenWeights = network.allWeights.map((_, i) => Array.from(state[`stage1.${i}`].dataSync()));
    expect(frozenWeights).toEqual(trained);
    tf.dispose(Object.values(state));
    const now = network.forward(images, false);
    const features3 = loss.evalFeatures(now.h, images);
    expect(features3.shape).toEqual([5, 18]);
    const rows = features3.arraySync() as Matrix;
    const current = now.h.arraySync() as Matrix;
    rows.forEach((row, i) => {
      const block = row.slice(12);
      const norm = Math.hypot(...current[i]);
      block.forEach((x, d) => expect(x).toBeCloseTo(current[i][d] / norm / Math.sqrt(3), 5));
      expect(Math.hypot(...row)).toBeCloseTo(1, 5);
    });
    tf.dispose([images, now.h, now.z, features3]);
    loss.dispose();
    network.dispose();
  });

  it('with reinit = 0 keeps the trained weights and the optimizer across stages', async () => {
    const network = tinyNetwork(2, 4);
    const loss = bound(params({ reinit: 0, stages: 2 }), network);
    tf.tidy(() => network.trainableVariables.forEach((v) => v.assign(tf.add(v, 0.5))));
    const trained = weightsOf(network);
    const resets = { count: 0 };
    await loss.atStepBoundary(context(10, [clusteredFeatures((i) => i < 3, 1, 4)], resets));
    expect(loss.stage()).toBe(2);
    expect(weightsOf(network)).toEqual(trained);
    expect(resets.count).toBe(0);
    loss.dispose();
    network.dispose();
  });

  it('contrasts each batch row only within its group, looked up by inputs.indices', async () => {
    const network = tinyNetwork(2, 3);
    const loss = bound(params({ stages: 2 }), network);
    const resets = { count: 0 };
    await loss.atStepBoundary(context(10, [clusteredFeatures((i) => i % 3 === 0, 2, 6)], resets));
    const views = randomViews(5, 2, 6, 3).map((v) => tf.tensor2d(v));
    const indices = Int32Array.from([0, 1, 2, 3, 6, 9]);
    const value = loss.compute({ views, indices });
    const groups = tf.tensor1d(
      Int32Array.from(indices, (i) => loss.groups![i]),
      'int32',
    );
    const expected = mclStageLoss(views, groups, 0.5);
    expect(value.dataSync()[0]).toBeCloseTo(expected.dataSync()[0], 6);
    // rows 0, 6 and 9 share a group: the loss differs from NT-Xent over the whole batch
    const plain = mclStageLoss(views, null, 0.5);
    expect(Math.abs(value.dataSync()[0] - plain.dataSync()[0])).toBeGreaterThan(1e-3);
    expect(() => loss.compute({ views })).toThrow(/pass inputs.indices/);
    tf.dispose([value, expected, plain, groups, ...views]);
    loss.dispose();
    network.dispose();
  });

  it('restores stage, groups and frozen stages from its state, and refuses a state of another shape', async () => {
    const network = tinyNetwork(2, 4);
    const loss = bound(params(), network);
    tf.tidy(() => network.trainableVariables.forEach((v) => v.assign(tf.mul(v, 1.5))));
    await loss.atStepBoundary(context(10, [clusteredFeatures((i) => i % 2 === 0, 0, 1)], { count: 0 }));
    const state = loss.getState();

    const other = tinyNetwork(2, 4);
    const restored = bound(params(), other);
    restored.setState(state);
    expect(restored.stage()).toBe(2);
    expect(Array.from(restored.groups!)).toEqual(Array.from(loss.groups!));
    const images = randomImages(8, 1, 4)[0];
    const a = loss.evalFeatures(network.forward(images, false).h, images);
    const b = restored.evalFeatures(other.forward(images, false).h, images);
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));

    const wrong = { ...state, groups: tf.zeros([3], 'int32') };
    expect(() => restored.setState(wrong)).toThrow(/groups has shape \[3\], expected \[12\]/);
    const badStage = { ...state, stage: tf.scalar(7, 'int32') };
    expect(() => restored.setState(badStage)).toThrow('stage 7 is outside 1..3');
    tf.dispose([a, b, images, wrong.groups, badStage.stage, ...Object.values(state)]);
    loss.dispose();
    restored.dispose();
    network.dispose();
    other.dispose();
  });
});
