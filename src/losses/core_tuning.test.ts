import * as tf from '@tensorflow/tfjs';
import { sampleBeta } from '../nn/beta';
import { describe, expect, it } from 'vitest';
import { Rng } from '../nn/random';
import {
  focalContrastive,
  generateHardPairs,
  mineHardPairs,
  sampleMixingWeights,
  softCrossEntropy,
} from './core_tuning';
import {
  cosine,
  dot,
  expectClose,
  expectGradsMatch,
  logSumExp,
  mean,
  normRow,
  numericalGrad,
  randomLabels,
  randomViews,
  type Matrix,
} from './testing';

/** The focal contrastive loss of the paper with plain loops (anchors without positives are left out of the mean). */
function focalReference(z: Matrix, labels: number[], tau: number): number {
  const rows = z.map(normRow);
  const anchors: number[] = [];
  rows.forEach((anchor, i) => {
    const others = rows.map((_, k) => k).filter((k) => k !== i);
    const lse = logSumExp(others.map((k) => dot(anchor, rows[k]) / tau));
    const positives = others.filter((k) => labels[k] === labels[i]);
    if (positives.length === 0) return;
    const terms = positives.map((k) => {
      const logP = dot(anchor, rows[k]) / tau - lse;
      return -(1 - Math.exp(logP)) * logP;
    });
    anchors.push(mean(terms));
  });
  return anchors.length === 0 ? 0 : mean(anchors);
}

function focalValueAndGrad(z: Matrix, labels: number[], tau: number): { value: number; grad: Matrix } {
  const y = tf.tensor1d(labels, 'int32');
  const x = tf.tensor2d(z);
  const { value, grads } = tf.valueAndGrads((zz: tf.Tensor) => focalContrastive(zz as tf.Tensor2D, y, tau))([
    x,
  ]);
  const out = { value: value.dataSync()[0], grad: grads[0].arraySync() as Matrix };
  tf.dispose([x, y, value, ...grads]);
  return out;
}

describe('focal contrastive loss', () => {
  it('matches the loop reference in value and numerical gradient', () => {
    for (const [seed, n, d, classes, tau] of [
      [1, 6, 3, 2, 0.5],
      [2, 8, 4, 3, 0.07],
      [3, 5, 2, 4, 1],
    ]) {
      const [z] = randomViews(seed, 1, n, d);
      const labels = randomLabels(seed, n, classes);
      const { value, grad } = focalValueAndGrad(z, labels, tau);
      expectClose(value, focalReference(z, labels, tau));
      expectGradsMatch(
        [grad],
        numericalGrad(([v]) => focalReference(v, labels, tau), [z]),
      );
    }
  });

  it('is 0 with no positive pair, and weighs an easy positive (p near 1) less than plain SupCon would', () => {
    const [z] = randomViews(4, 1, 4, 3);
    expect(focalValueAndGrad(z, [0, 1, 2, 3], 0.5).value).toBe(0);
    // two identical rows of one class far from the other: p ~ 1, (1 - p) log p ~ 0
    const easy = [
      [1, 0],
      [1, 0],
      [-1, 0],
    ];
    expect(focalValueAndGrad(easy, [0, 0, 1], 0.05).value).toBeLessThan(1e-6);
  });
});

describe('hard pair generation', () => {
  // rows at angles 0, 10, 80, 100 degrees; classes 0, 0, 1, 1
  const angle = (deg: number) => [Math.cos((deg * Math.PI) / 180), Math.sin((deg * Math.PI) / 180)];
  const f = [angle(0), angle(10), angle(80), angle(100)].map((r) => r.map((x) => 3 * x));
  const labels = [0, 0, 1, 1];

  it('mines the least similar positive and the most similar negative, an anchor without one gets itself', () => {
    const x = tf.tensor2d(f);
    const y = tf.tensor1d(labels, 'int32');
    const { hardNegative, hardPositive } = mineHardPairs(x, y);
    // row 0's negatives: 80 (closer) and 100 degrees; row 1 (10 deg): 80; row 2 (80 deg): 10; row 3 (100 deg): 10
    expect(Array.from(hardNegative.dataSync())).toEqual([2, 2, 1, 1]);
    expect(Array.from(hardPositive.dataSync())).toEqual([1, 0, 3, 2]);
    const lone = tf.tensor1d([0, 0, 1, 2], 'int32');
    const mined = mineHardPairs(x, lone);
    // rows 2 and 3 are alone in their class: their hardest positive is themselves
    expect(Array.from(mined.hardPositive.dataSync())).toEqual([1, 0, 2, 3]);
    const single = tf.tensor1d([5, 5, 5, 5], 'int32');
    expect(Array.from(mineHardPairs(x, single).hardNegative.dataSync())).toEqual([0, 1, 2, 3]);
    tf.dispose([x, y, lone, single, hardNegative, hardPositive, mined.hardNegative, mined.hardPositive]);
  });

  it('mixes features and one-hot labels as the equations say, with the majority class as the contrastive label', () => {
    const weights = {
      negative: Float32Array.from([0.9, 0.8, 1, 0.85]),
      positive: Float32Array.from([0.6, 0.5, 0.75, 1]),
    };
    const x = tf.tensor2d(f);
    const y = tf.tensor1d(labels, 'int32');
    const batch = generateHardPairs(x, y, 3, weights);
    const hn = [2, 2, 1, 1];
    const hp = [1, 0, 3, 2];
    const oneHot = (c: number) => [0, 1, 2].map((k) => (k === c ? 1 : 0));
    const mix = (a: number[], b: number[], la: number) => a.map((v, d) => la * v + (1 - la) * b[d]);
    const expectedFeatures = [
      ...f,
      ...f.map((row, i) => mix(f[hn[i]], row, weights.negative[i])),
      ...f.map((_, i) => mix(f[hp[i]], f[hn[i]], weights.positive[i])),
    ];
    const expectedSoft = [
      ...labels.map(oneHot),
      ...labels.map((c, i) => mix(oneHot(labels[hn[i]]), oneHot(c), weights.negative[i])),
      ...labels.map((c, i) => mix(oneHot(c), oneHot(labels[hn[i]]), weights.positive[i])),
    ];
    const got = batch.features.arraySync() as Matrix;
    got.forEach((row, r) => row.forEach((v, d) => expect(v).toBeCloseTo(expectedFeatures[r][d], 5)));
    (batch.soft.arraySync() as Matrix).forEach((row, r) =>
      row.forEach((v, d) => expect(v).toBeCloseTo(expectedSoft[r][d], 6)),
    );
    expect(Array.from(batch.hard.dataSync())).toEqual([0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1]);
    tf.dispose([x, y, batch.features, batch.soft, batch.hard]);
  });

  it('passes the gradient through the mixes to the features', () => {
    const weights = sampleMixingWeights(new Rng(3), 4, 1);
    const y = tf.tensor1d(labels, 'int32');
    const w = tf.tensor2d([[0.3], [-0.2]]);
    const loss = (x: tf.Tensor) => {
      const batch = generateHardPairs(x as tf.Tensor2D, y, 2, weights);
      return tf.sum(tf.matMul(batch.features, w)) as tf.Scalar;
    };
    const x = tf.tensor2d(f);
    const grad = tf.grad(loss)(x);
    // d/df_k sum_r (mixed row r).w = (number of times f_k enters, weighted) * w: check against a numerical gradient
    const numeric = numericalGrad(
      ([v]) => {
        const t = tf.tensor2d(v);
        const out = loss(t);
        const value = out.dataSync()[0];
        tf.dispose([t, out]);
        return value;
      },
      [f],
    );
    expectGradsMatch([grad.arraySync() as Matrix], numeric, 1e-2);
    tf.dispose([y, w, x, grad]);
  });

  it('samples seeded mixing weights in their ranges, Beta(1, 1) being uniform', () => {
    const a = sampleMixingWeights(new Rng(9), 500, 1);
    expect(sampleMixingWeights(new Rng(9), 500, 1)).toEqual(a);
    expect(Math.min(...a.negative)).toBeGreaterThanOrEqual(0.8);
    expect(Math.min(...a.positive)).toBeGreaterThanOrEqual(0.5);
    expect(Math.max(...a.positive)).toBeLessThanOrEqual(1);
    const rng = new Rng(1);
    const draws = Array.from({ length: 4000 }, () => sampleBeta(rng, 1, 1));
    expect(mean(draws)).toBeCloseTo(0.5, 1);
    const skewed = Array.from({ length: 4000 }, () => sampleBeta(rng, 2, 6));
    expect(mean(skewed)).toBeCloseTo(0.25, 1);
  });
});

describe('smooth-boundary cross-entropy', () => {
  it('is the soft-target cross-entropy of the loop reference, and the usual one on one-hot targets', () => {
    const logits = [
      [1, 2, 0.5],
      [-1, 0, 3],
    ];
    const targets = [
      [0.2, 0.8, 0],
      [0, 0, 1],
    ];
    const ref = mean(
      logits.map((row, r) => -row.reduce((s, l, c) => s + targets[r][c] * (l - logSumExp(row)), 0)),
    );
    const l = tf.tensor2d(logits);
    const t = tf.tensor2d(targets);
    expectClose(softCrossEntropy(l, t).dataSync()[0], ref);
    const hard = tf.tensor2d([
      [0, 1, 0],
      [0, 0, 1],
    ]);
    const ce = tf.losses.softmaxCrossEntropy(hard, l).dataSync()[0];
    expectClose(softCrossEntropy(l, hard).dataSync()[0], ce);
    tf.dispose([l, t, hard]);
    expect(cosine([1, 0], [0, 1])).toBe(0);
  });
});
