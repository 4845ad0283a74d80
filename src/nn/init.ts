import * as tf from '@tensorflow/tfjs';
import { tfjsSeed } from './random';

/** A TF.js layers initialiser (the class is not exported by name). */
type Initializer = ReturnType<typeof tf.initializers.zeros>;

/**
 * Weight initialisation schemes (RunConfig nn.init).
 * - 'tfjs': each builder's own TF.js initialiser (resnet: truncated normal at 2 sigma with sigma = sqrt(2 / fan_out),
 *   TF.js does not rescale for the truncation, so the standard deviation is 0.88 sigma; convnet: He-normal
 *   (fan_in, truncated the same way); dense layers: He-uniform U(+-sqrt(6 / fan_in))); biases 0.
 * - 'torch': PyTorch's reset_parameters() of nn.Conv2d and nn.Linear, kaiming_uniform_(a = sqrt(5)) for the
 *   kernel and U(+-1 / sqrt(fan_in)) for the bias, which both come to U(+-1 / sqrt(fan_in)).
 */
export type InitScheme = 'tfjs' | 'torch';

/** Padding of strided convolutions (RunConfig nn.padding): TensorFlow's 'same' or PyTorch's symmetric k // 2. */
export type PaddingScheme = 'same' | 'symmetric';

/** How the builders make their layers; the defaults are TF.js's ('tfjs', 'same'). */
export interface LayerOptions {
  init?: InitScheme;
  padding?: PaddingScheme;
}

/** Seed offset of a layer's bias initialiser relative to its kernel's, so the two draw different streams. */
export const BIAS_SEED_OFFSET = 100_000;

/** PyTorch's default Conv2d / Linear initialiser for a layer with `fanIn` inputs: U(-1 / sqrt(fan_in), 1 / sqrt(fan_in)). */
export function torchDefaultInitializer(fanIn: number, seed: number): Initializer {
  const bound = 1 / Math.sqrt(Math.max(1, fanIn));
  return tf.initializers.randomUniform({ minval: -bound, maxval: bound, seed: tfjsSeed(seed) });
}

/**
 * Kernel and bias initialisers of one layer: under 'torch' both U(+-1 / sqrt(fan_in)) (bias seeded at seed +
 * BIAS_SEED_OFFSET), under 'tfjs' the builder's own kernel initialiser and zero biases.
 */
export function layerInitializers(
  scheme: InitScheme,
  fanIn: number,
  seed: number,
  tfjsKernel: () => Initializer,
): { kernelInitializer: Initializer; biasInitializer: Initializer } {
  if (scheme === 'torch') {
    return {
      kernelInitializer: torchDefaultInitializer(fanIn, seed),
      biasInitializer: torchDefaultInitializer(fanIn, seed + BIAS_SEED_OFFSET),
    };
  }
  return { kernelInitializer: tfjsKernel(), biasInitializer: tf.initializers.zeros() };
}
