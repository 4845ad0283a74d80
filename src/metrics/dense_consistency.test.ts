import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { randomLabels, randomViews } from '../nn/testing';
import { denseConsistency, denseSums, evaluateEmbeddings, evaluateRepresentation } from './index';

describe('dense consistency', () => {
  it('averages the cosines of corresponding and of other cell pairs (hand-computed)', async () => {
    // one image, a 1 x 2 map of 2-d features: view a cells (1, 0) and (0, 1); view b cells (1, 1) and (0, 2)
    const a = tf.tensor4d([
      [
        [
          [1, 0],
          [0, 1],
        ],
      ],
    ]);
    const b = tf.tensor4d([
      [
        [
          [1, 1],
          [0, 2],
        ],
      ],
    ]);
    // cell 0 of a corresponds to cell 0 of b, cell 1 to cell 1
    const mask = Float32Array.from([1, 0, 0, 1]);
    const sums = await denseSums(a, b, mask);
    // cosines: a0.b0 = 1/sqrt2, a0.b1 = 0, a1.b0 = 1/sqrt2, a1.b1 = 1
    expect(sums.matchedCount).toBe(2);
    expect(sums.unmatchedCount).toBe(2);
    expect(sums.matchedSum).toBeCloseTo(Math.SQRT1_2 + 1, 6);
    expect(sums.unmatchedSum).toBeCloseTo(Math.SQRT1_2, 6);
    const result = denseConsistency([sums], 0.7);
    expect(result.matched).toBeCloseTo((Math.SQRT1_2 + 1) / 2, 6);
    expect(result.unmatched).toBeCloseTo(Math.SQRT1_2 / 2, 6);
    expect(result.pairsPerImage).toBe(2);
    expect(result).toMatchObject({ threshold: 0.7, images: 1 });
    tf.dispose([a, b]);
  });

  it('pools chunks pair by pair, says null when there are no pairs of a kind, and rejects bad masks', async () => {
    const a = tf.tensor4d([[[[1, 0]]]]);
    const b = tf.tensor4d([[[[-1, 0]]]]);
    const matched = await denseSums(a, b, Float32Array.from([1]));
    const unmatched = await denseSums(a, a, Float32Array.from([0]));
    const both = denseConsistency([matched, unmatched], 0.5);
    expect(both).toEqual({ matched: -1, unmatched: 1, pairsPerImage: 0.5, threshold: 0.5, images: 2 });
    expect(denseConsistency([matched], 0.5).unmatched).toBeNull();
    expect(denseConsistency([unmatched], 0.5).matched).toBeNull();
    await expect(denseSums(a, b, Float32Array.from([1, 0]))).rejects.toThrow(/expected N \* \(h w\)\^2 = 1/);
    const c = tf.zeros([1, 2, 1, 2]) as tf.Tensor4D;
    await expect(denseSums(a, c, Float32Array.from([1]))).rejects.toThrow(/differ in shape/);
    tf.dispose([a, b, c]);
  });
});

describe('evaluateRepresentation', () => {
  it('gives one more representation exactly the metrics evaluateEmbeddings gives h', async () => {
    const [clean, viewA, viewB] = randomViews(1, 3, 24, 5);
    const [bank] = randomViews(2, 1, 30, 5);
    const [other] = randomViews(3, 1, 24, 3);
    const tensors = [clean, viewA, viewB, bank].map((m) => tf.tensor2d(m));
    const [z, zBank] = [tf.tensor2d(other), tf.tensor2d(randomViews(4, 1, 30, 3)[0])];
    const evalLabels = Int32Array.from(randomLabels(5, 24, 3));
    const bankLabels = Int32Array.from(randomLabels(6, 30, 3));
    const options = { knnK: 5, knnTemperature: 0.1, numClasses: 3 };
    const single = await evaluateRepresentation(
      { clean: tensors[0], viewA: tensors[1], viewB: tensors[2], evalLabels, bank: tensors[3], bankLabels },
      options,
    );
    const both = await evaluateEmbeddings(
      {
        clean: { h: tensors[0], z },
        viewA: { h: tensors[1], z },
        viewB: { h: tensors[2], z },
        evalLabels,
        bank: { h: tensors[3], z: zBank, labels: bankLabels },
      },
      options,
    );
    expect(single).toEqual(both.h);
    await expect(
      evaluateRepresentation(
        {
          clean: tensors[0],
          viewA: tensors[1],
          viewB: tensors[2],
          evalLabels,
          bank: tensors[3],
          bankLabels: evalLabels,
        },
        options,
      ),
    ).rejects.toThrow(/bank\.h has 30 rows but there are 24 labels/);
    tf.dispose([...tensors, z, zBank]);
  });
});
