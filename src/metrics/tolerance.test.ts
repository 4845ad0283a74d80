import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { cosine, randomLabels, randomViews } from '../nn/testing';
import { tolerance } from './tolerance';

describe('tolerance', () => {
  it('averages the cosine over same-class pairs of a hand-computed example', async () => {
    // class 0: (2,0), (1,0), (0,3) -> cosines 1, 0, 0; class 1: (1,0), (0.3,0.4) -> cosine 0.6.
    // Mean over the 4 unordered (= 8 ordered) same-class pairs: (1 + 0 + 0 + 0.6) / 4 = 0.4.
    const z = tf.tensor2d([
      [2, 0],
      [1, 0],
      [1, 0],
      [0, 3],
      [0.3, 0.4],
    ]);
    expect(await tolerance(z, [0, 0, 1, 0, 1])).toBeCloseTo(0.4, 6);
    z.dispose();
  });

  it('matches the pair-by-pair definition on random embeddings', async () => {
    const [rows] = randomViews(21, 1, 31, 5);
    const labels = randomLabels(22, 31, 4);
    let sum = 0;
    let pairs = 0;
    for (let i = 0; i < rows.length; i++) {
      for (let j = 0; j < rows.length; j++) {
        if (i !== j && labels[i] === labels[j]) {
          sum += cosine(rows[i], rows[j]);
          pairs++;
        }
      }
    }
    const z = tf.tensor2d(rows);
    const before = tf.memory().numTensors;
    expect(await tolerance(z, Int32Array.from(labels))).toBeCloseTo(sum / pairs, 5);
    expect(tf.memory().numTensors).toBe(before);
    z.dispose();
  });

  it('explains what is wrong with the labels', async () => {
    const z = tf.tensor2d([
      [1, 0],
      [0, 1],
      [1, 1],
    ]);
    await expect(tolerance(z, [0, 1, 2])).rejects.toThrow(/no two embeddings share a label/);
    await expect(tolerance(z, [0, 1])).rejects.toThrow(/got 2 labels for 3 embeddings/);
    await expect(tolerance(z, [0, 1, -1])).rejects.toThrow(/not a non-negative integer/);
    z.dispose();
  });
});
