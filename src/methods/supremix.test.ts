import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { randomViews } from '../losses/testing';
import { createLoss } from './registry';

describe('supremix method', () => {
  it('the method draws its mixing coefficients from the step, and needs targets', () => {
    const loss = createLoss('supremix', { tau: 0.5 });
    const views = randomViews(2, 2, 4, 3).map((v) => tf.tensor2d(v));
    const targets = tf.tensor1d([1, 2, 3, 4]);
    const at = (step: number) => {
      const value = loss.compute({ views, targets, step });
      const out = value.dataSync()[0];
      value.dispose();
      return out;
    };
    expect(at(3)).toBe(at(3));
    expect(at(3)).not.toBe(at(4));
    expect(() => loss.compute({ views })).toThrow(
      "loss 'supremix' regresses a continuous target: pass inputs.targets (float32 [N]); in a run config set dataset.target to 'rotation'",
    );
    tf.dispose([...views, targets]);
  });
});
