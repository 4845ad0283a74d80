import * as tf from '@tensorflow/tfjs';
import { batchNormGradSums } from '../ops';

/**
 * A leaner gradient for the FusedBatchNorm kernel (what tf.batchNorm and the BatchNormalization layer run),
 * y = (x - mean) · k · scale + offset with k = 1 / sqrt(variance + eps), per channel (mean of rank 1):
 *
 *   dx       = dy · (k · scale)                       (broadcast over the channel axis)
 *   dmean    = -(k · scale) · Σ dy
 *   dvariance = -½ k³ · scale · Σ dy·(x - mean)
 *   dscale   = k · Σ dy·(x - mean)
 *   doffset  = Σ dy                                   (Σ over every axis but the channel axis)
 *
 * The stock tfjs gradient (tfjs-core gradients/FusedBatchNorm_grad) materialises k tiled to the full
 * [N, H, W, C] shape and multiplies full-size tensors about nine times; this one makes three full-size passes
 * (dy · k·scale, x - mean, dy · (x - mean)) plus two reductions, whose results the five closures share; with
 * ProjectBatchNormGradSums registered (webgpu, wasm), one full-size pass (dy · k·scale) plus one fused reduction.
 * Same math, so it is backend-agnostic; other shapes (mean of rank > 1) fall back to the stock gradient.
 */
export function leanBatchNormGradConfig(stock: tf.GradConfig): tf.GradConfig {
  return {
    kernelName: tf.FusedBatchNorm,
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: (dy, saved, attrs) => {
      const [x, mean, variance, scale] = saved;
      if (mean.rank !== 1 || Array.isArray(dy)) return stock.gradFunc(dy, saved, attrs);
      const { varianceEpsilon } = attrs as unknown as tf.FusedBatchNormAttrs;
      const channelAxes = Array.from({ length: x.rank - 1 }, (_, axis) => axis);
      // computed here, not in the closures: the tape runs each closure in its own tidy, so values shared
      // between closures must live in the enclosing (backward-pass) scope
      const k = tf.rsqrt(tf.add(variance, varianceEpsilon));
      const kScale = scale == null ? k : tf.mul(k, scale);
      const [sumDy, sumDyCentred] = batchNormGradSums(dy, x, mean, channelAxes);
      return {
        x: () => tf.mul(dy, kScale),
        mean: () => tf.neg(tf.mul(kScale, sumDy)),
        variance: () => tf.mul(tf.mul(tf.mul(tf.square(k), kScale), -0.5), sumDyCentred),
        scale: () => tf.mul(k, sumDyCentred),
        offset: () => tf.clone(sumDy),
      };
    },
  };
}
