import * as tf from '@tensorflow/tfjs';

/**
 * Optional kernel a backend may register (the project's wasm set does: kernels/wasm_simd/relu_grad.ts): the ReLU
 * gradient dy · step(x) in one pass, inputs dy and x (float32, one shape). Without it the gradient is tfjs' own
 * three kernels, Step, Cast and Multiply.
 */
export const RELU_GRAD_KERNEL = 'ProjectReluGrad';

/**
 * The Relu gradient, dx = dy · step(x) (step: 1 where x > 0, NaN where x is NaN, else 0), as tfjs defines it;
 * through RELU_GRAD_KERNEL where the active backend registers it (the same float32 products), else tfjs' ops.
 */
export const reluGradConfig: tf.GradConfig = {
  kernelName: tf.Relu,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved;
    if (Array.isArray(dy)) throw new Error(`Relu gradient: expected one dy, got ${dy.length}`);
    return {
      x: () => {
        const fused =
          tf.getKernel(RELU_GRAD_KERNEL, tf.getBackend()) != null &&
          dy.dtype === 'float32' &&
          x.dtype === 'float32';
        if (fused) return tf.engine().runKernel(RELU_GRAD_KERNEL, { dy, x }) as tf.Tensor;
        return tf.mul(dy, tf.cast(tf.step(x), 'float32'));
      },
    };
  },
};
