import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { stopGradient } from './rows';

describe('common', () => {
  it('stopGradient keeps the value and blocks the gradient', () => {
    const gradient = tf.tidy(() => {
      const x = tf.tensor1d([3, -4]);
      // d/dx sum(x * sg(x)) = sg(x) = x, whereas without stopGradient it would be 2x.
      return tf
        .grad((z: tf.Tensor) => tf.sum(tf.mul(z, stopGradient(z))))(x)
        .arraySync();
    });
    expect(gradient).toEqual([3, -4]);
  });
});
