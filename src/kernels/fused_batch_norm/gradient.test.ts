import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { leanBatchNormGradConfig } from './gradient';
import { relativeError } from '../webgpu/testing';

// The gradient is plain tfjs ops, so it is checked on the cpu backend of the unit tests.
const stock = tf.getGradient(tf.FusedBatchNorm)!;

afterEach(() => {
  tf.registerGradient(stock);
});

/** Gradients of sum(r · BN_train(x)) w.r.t. x, scale, offset, with batch statistics as the layer computes them. */
function batchNormGradients(shape: number[]): tf.Tensor[] {
  return tf.tidy(() => {
    const channels = shape[shape.length - 1];
    const x = tf.randomNormal(shape, 1, 2, 'float32', 1);
    const scale = tf.randomNormal([channels], 1, 0.3, 'float32', 2);
    const offset = tf.randomNormal([channels], 0, 1, 'float32', 3);
    const r = tf.randomNormal(shape, 0, 1, 'float32', 4);
    const axes = shape.slice(0, -1).map((_, axis) => axis);
    const loss = (a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => {
      const { mean, variance } = tf.moments(a, axes);
      // (tfjs cannot differentiate batchNorm without a scale at all: it fails saving the missing input)
      const y = tf.batchNorm(a, mean, variance, o, s, 1e-5);
      return tf.sum(tf.mul(y, r));
    };
    return tf.grads(loss)([x, scale, offset]);
  });
}

describe('lean FusedBatchNorm gradient', () => {
  it.each([
    { name: 'NHWC conv activations', shape: [4, 5, 5, 6] },
    { name: 'projector activations [N, C]', shape: [8, 7] },
  ])('$name: dx, dscale and doffset match the stock gradient to 1e-5', async ({ shape }) => {
    const expected = batchNormGradients(shape);
    tf.registerGradient(leanBatchNormGradConfig(stock));
    const before = tf.memory().numTensors;
    const actual = batchNormGradients(shape);
    expect(tf.memory().numTensors - before).toBe(3);
    for (let i = 0; i < 3; i++) {
      expect(await relativeError(actual[i], expected[i])).toBeLessThan(1e-5);
    }
    // through the batch statistics dx is far from dy · k · scale alone: a missing mean/variance term would show
    expect((await expected[0].abs().max().data())[0]).toBeGreaterThan(0.01);
    tf.dispose([...expected, ...actual]);
  });

  it('falls back to the stock gradient when mean is not per-channel (rank > 1)', async () => {
    const run = () =>
      tf.tidy(() => {
        const x = tf.randomNormal([3, 4], 0, 1, 'float32', 5);
        const mean = tf.randomNormal([3, 4], 0, 1, 'float32', 6);
        const variance = tf.randomUniform([3, 4], 0.5, 2, 'float32', 7);
        const scale = tf.randomNormal([3, 4], 1, 0.3, 'float32', 8);
        const offset = tf.randomNormal([3, 4], 0, 1, 'float32', 9);
        return tf.grad((a: tf.Tensor) => tf.sum(tf.batchNorm(a, mean, variance, offset, scale)))(x);
      });
    const expected = run();
    tf.registerGradient(leanBatchNormGradConfig(stock));
    const actual = run();
    expect(await relativeError(actual, expected)).toBe(0);
    tf.dispose([expected, actual]);
  });
});
