import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { knnRegression, knnRegressionPredict } from './knn_regression';
import { choleskySolve, linearProbeR2 } from './linear_regression';
import { meanAbsoluteError, rSquared } from './regression_scores';

describe('regression scores', () => {
  it('R^2 and MAE on hand-computed cases', () => {
    // y = [1, 2, 3, 6]: mean 3, total sum of squares 4 + 1 + 0 + 9 = 14
    const y = [1, 2, 3, 6];
    expect(rSquared([1, 2, 3, 6], y)).toBe(1);
    expect(rSquared([3, 3, 3, 3], y)).toBe(0);
    // residuals [1, -1, 0, 2]: 6 -> 1 - 6 / 14
    expect(rSquared([2, 1, 3, 8], y)).toBeCloseTo(1 - 6 / 14, 12);
    expect(meanAbsoluteError([2, 1, 3, 8], y)).toBe(1);
    expect(rSquared([0, 0], [4, 4])).toBe(0);
  });

  it('choleskySolve solves a symmetric positive definite system and refuses an indefinite one', () => {
    // [[4, 2], [2, 3]] x = [2, 1] -> x = [0.5, 0]
    const x = choleskySolve(Float64Array.from([4, 2, 2, 3]), Float64Array.from([2, 1]), 2);
    expect(x[0]).toBeCloseTo(0.5, 12);
    expect(x[1]).toBeCloseTo(0, 12);
    expect(() => choleskySolve(Float64Array.from([1, 2, 2, 1]), Float64Array.from([1, 1]), 2)).toThrow(
      'not positive definite',
    );
  });
});

describe('knnRegression', () => {
  it('averages the targets of the k most cosine-similar bank rows (hand-computed case)', async () => {
    // four bank directions with targets 0, 10, 20, 30; the scale of a row does not matter (cosine)
    const bank = tf.tensor2d([
      [3, 0],
      [0, 1],
      [-2, 0],
      [0, -1],
    ]);
    const queries = tf.tensor2d([
      [1, 0.1], // nearest: rows 0 (cos 0.995) then 1 (0.0995) -> k=2 mean 5
      [-0.1, 1], // rows 1 then 2 -> 15
    ]);
    const targets = [0, 10, 20, 30];
    expect(Array.from(await knnRegressionPredict({ embeddings: bank, targets }, queries, { k: 1 }))).toEqual([
      0, 10,
    ]);
    const scores = await knnRegression(
      { embeddings: bank, targets },
      { embeddings: queries, targets: [2, 14] },
      { k: 2, queryChunk: 1 },
    );
    // predictions 5, 15 against 2, 14: MAE (3 + 1) / 2, R^2 = 1 - (9 + 1) / (36 + 36)
    expect(scores.mae).toBeCloseTo(2, 6);
    expect(scores.r2).toBeCloseTo(1 - 10 / 72, 6);
    tf.dispose([bank, queries]);
  });

  it('refuses mismatched targets and dimensions, naming them', async () => {
    const bank = tf.tensor2d([[1, 0]]);
    const query = tf.tensor2d([[1, 0, 0]]);
    await expect(knnRegressionPredict({ embeddings: bank, targets: [1, 2] }, bank)).rejects.toThrow(
      'kNN regression bank: got 2 targets for 1 embeddings',
    );
    await expect(knnRegressionPredict({ embeddings: bank, targets: [1] }, query)).rejects.toThrow(
      'queries have dimension 3 but the bank has 2',
    );
    tf.dispose([bank, query]);
  });
});

describe('linearProbeR2', () => {
  it('equals the closed-form ridge solution on a 1-D case', async () => {
    // norm(h) of 1-D rows is their sign: x = [1, 1, -1, -1], y = [0, 2, 4, 6]; centred, sum x^2 / n = 1 and
    // sum x (y - 3) / n = -2, so w = -2 / (1 + lambda); test x = [1, -1] with y = [0, 5]
    const lambda = 1e-4;
    const w = -2 / (1 + lambda);
    const predictions = [3 + w, 3 - w];
    const expected = 1 - ((predictions[0] - 0) ** 2 + (predictions[1] - 5) ** 2) / (2 * 2.5 ** 2);
    const train = tf.tensor2d([[2], [0.5], [-1], [-3]]);
    const test = tf.tensor2d([[4], [-0.2]]);
    const r2 = await linearProbeR2(
      { embeddings: train, targets: [0, 2, 4, 6] },
      { embeddings: test, targets: [0, 5] },
    );
    expect(r2).toBeCloseTo(expected, 5);
    tf.dispose([train, test]);
  });

  it('is about 1 for targets linear in the normalised features and about 0 for unrelated ones', async () => {
    const angles = Array.from({ length: 40 }, (_, i) => (i / 40) * Math.PI);
    const rows = angles.map((t) => [2 * Math.cos(t), 2 * Math.sin(t)]);
    const linear = angles.map((t) => 3 + 2 * Math.cos(t) - Math.sin(t));
    const features = tf.tensor2d(rows);
    const fit = await linearProbeR2(
      { embeddings: features, targets: linear },
      { embeddings: features, targets: linear },
    );
    expect(fit).toBeGreaterThan(0.999);
    // targets that alternate regardless of the angle: a linear map explains almost nothing
    const noise = angles.map((_, i) => (i % 2 === 0 ? 1 : -1));
    const none = await linearProbeR2(
      { embeddings: features, targets: noise },
      { embeddings: features, targets: noise },
    );
    expect(Math.abs(none)).toBeLessThan(0.05);
    features.dispose();
  });
});
