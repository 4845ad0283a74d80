import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { randomViews, normRow, sqDist } from '../nn/testing';
import { alignment } from './alignment';
import { alignmentUniformityPoint } from './alignment_uniformity_plane';

describe('alignment', () => {
  const [first, second] = randomViews(11, 2, 9, 5);

  it('is 0 for identical views and 4 for antipodal ones, whatever the row scale', async () => {
    const z = tf.tensor2d(first);
    const scaled = tf.mul(z, 3) as tf.Tensor2D;
    const antipodal = tf.mul(z, -0.5) as tf.Tensor2D;
    expect(await alignment(z, scaled)).toBeCloseTo(0, 6);
    expect(await alignment(z, antipodal)).toBeCloseTo(4, 5);
    tf.dispose([z, scaled, antipodal]);
  });

  it("matches mean_i ||norm(z_i) - norm(z'_i)||^alpha computed row by row", async () => {
    const z1 = tf.tensor2d(first);
    const z2 = tf.tensor2d(second);
    const distances = first.map((row, i) => Math.sqrt(sqDist(normRow(row), normRow(second[i]))));
    const reference = (alpha: number) => distances.reduce((sum, d) => sum + d ** alpha, 0) / distances.length;
    expect(await alignment(z1, z2)).toBeCloseTo(reference(2), 5);
    expect(await alignment(z1, z2, 1)).toBeCloseTo(reference(1), 5);
    expect(await alignment(z1, z2, 3)).toBeCloseTo(reference(3), 5);
    tf.dispose([z1, z2]);
  });

  it('leaks no tensors and rejects views of different shapes', async () => {
    const z1 = tf.tensor2d(first);
    const z2 = tf.tensor2d(second);
    const before = tf.memory().numTensors;
    await alignment(z1, z2);
    expect(tf.memory().numTensors).toBe(before);
    const shorter = tf.slice(z2, [0, 0], [4, 5]) as tf.Tensor2D;
    await expect(alignment(z1, shorter)).rejects.toThrow(/same shape/);
    tf.dispose([z1, z2, shorter]);
  });
});

describe('alignmentUniformityPoint', () => {
  it('places an evaluation at (-uniformity, -alignment)', () => {
    expect(alignmentUniformityPoint(300, { alignment: 0.4, uniformity: -3.1 })).toEqual({
      step: 300,
      negUniformity: 3.1,
      negAlignment: -0.4,
    });
  });
});
