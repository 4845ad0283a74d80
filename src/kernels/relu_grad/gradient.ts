import * as tf from '@tensorflow/tfjs';
import { reluGrad } from '../ops';

/**
 * The Relu gradient, dx = dy · step(x) (step: 1 where x > 0, NaN where x is NaN, else 0), as tfjs defines it;
 * through ProjectReluGrad where the active backend registers it (the same float32 products: one pass instead of
 * tfjs' Step, Cast and Multiply), else tfjs' ops (ops.ts: reluGrad).
 */
export const reluGradConfig: tf.GradConfig = {
  kernelName: tf.Relu,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved;
    if (Array.isArray(dy)) throw new Error(`Relu gradient: expected one dy, got ${dy.length}`);
    return { x: () => reluGrad(dy, x) };
  },
};
