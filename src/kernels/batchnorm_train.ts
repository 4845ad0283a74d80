import * as tf from '@tensorflow/tfjs';
import { gradSums } from './webgpu/batchnorm_grad';

/**
 * Optional kernel a backend may register (wasm does): inputs dy, x [..., C] and per-channel mean, a, b, c [C];
 * output dx = dy·a + (x − mean)·b + c, BatchNorm's training-mode input gradient in one pass. Without it the same
 * comes from tfjs ops (five full-size passes).
 */
export const BATCHNORM_DX_KERNEL = 'ProjectBatchNormDx';

/**
 * Optional kernel a backend may register (wasm does): input x [..., C], outputs the per-channel mean and biased
 * variance [C] over every other axis (tf.moments' values) in fewer passes than tf.moments.
 */
export const MOMENTS_KERNEL = 'ProjectMoments';

/** tf.moments over every axis but the last, through MOMENTS_KERNEL where the active backend registers it. */
function channelMoments(x: tf.Tensor, axes: number[]): { mean: tf.Tensor; variance: tf.Tensor } {
  if (tf.getKernel(MOMENTS_KERNEL, tf.getBackend()) != null && x.dtype === 'float32') {
    const [mean, variance] = tf.engine().runKernel(MOMENTS_KERNEL, { x }) as tf.Tensor[];
    return { mean, variance };
  }
  return tf.moments(x, axes);
}

/**
 * BatchNorm in training mode over every axis but the last, as one op with its own gradient:
 *
 *   mean, variance = moments(x) (biased variance, as tf.moments), k = 1 / √(variance + ε)
 *   y = (x − mean)·k·γ + β
 *
 * and, with S1 = Σ dy and S2 = Σ dy·(x − mean) per channel over the M = x.size / C values of each channel,
 *
 *   dx = k·γ·dy − k³·γ·S2 / M · (x − mean) − k·γ·S1 / M,   dγ = k·S2,   dβ = S1
 *
 * (the gradient through the batch statistics included). The values are tfjs-layers' (tf.moments, then
 * tf.batchNorm); the gradient is the same function's, but tfjs reaches it through the tape of moments' Mean, Sub,
 * Cast, Square and Mean and BatchNorm's own gradient: about fourteen full-size passes a layer on wasm, where this
 * takes two (S1 and S2 together, then dx) with the kernels registered (gradSums' BATCHNORM_GRAD_SUMS_KERNEL and
 * BATCHNORM_DX_KERNEL), and tfjs ops otherwise. mean and variance are returned for the moving averages (the
 * caller disposes them); they carry no gradient.
 */
export function batchNormTraining(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  const C = x.shape[x.rank - 1];
  if (x.rank < 2 || gamma.size !== C || beta.size !== C || gamma.rank !== 1 || beta.rank !== 1) {
    throw new Error(
      `batchNormTraining: x [${x.shape.join(', ')}] needs gamma and beta of shape [${C}], got ` +
        `[${gamma.shape.join(', ')}] and [${beta.shape.join(', ')}]`,
    );
  }
  const axes = Array.from({ length: x.rank - 1 }, (_, axis) => axis);
  let stats: [tf.Tensor, tf.Tensor] | null = null;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, scale, offset] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const { mean, variance } = channelMoments(input, axes);
    const y = tf.batchNorm(input, mean, variance, offset, scale, epsilon);
    save([input, mean, variance, scale]);
    // kept past the op's own tidy for the caller (who disposes them)
    stats = [tf.keep(mean), tf.keep(variance)];
    return {
      value: y,
      gradFunc: (dy, saved) => batchNormTrainingGrad(dy as tf.Tensor, saved, epsilon, axes),
    };
  });
  const y = op(x, gamma, beta);
  const [mean, variance] = stats!;
  return { y, mean, variance };
}

function batchNormTrainingGrad(
  dy: tf.Tensor,
  saved: tf.Tensor[],
  epsilon: number,
  axes: number[],
): tf.Tensor[] {
  const [x, mean, variance, gamma] = saved;
  const count = x.size / mean.size;
  const k = tf.rsqrt(tf.add(variance, epsilon));
  const kGamma = tf.mul(k, gamma);
  const [s1, s2] = gradSums(dy, x, mean, axes);
  const a = kGamma;
  const b = tf.mul(tf.mul(kGamma, tf.square(k)), tf.div(s2, -count));
  const c = tf.mul(kGamma, tf.div(s1, -count));
  const fused = tf.getKernel(BATCHNORM_DX_KERNEL, tf.getBackend()) != null && dy.dtype === 'float32';
  const dx = fused
    ? (tf.engine().runKernel(BATCHNORM_DX_KERNEL, { dy, x, mean, a, b, c }) as tf.Tensor)
    : tf.add(tf.add(tf.mul(dy, a), tf.mul(tf.sub(x, mean), b)), c);
  return [dx, tf.mul(k, s2), s1];
}
