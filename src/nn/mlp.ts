import * as tf from '@tensorflow/tfjs';
import { tfjsSeed } from './random';
import { batchNormalization } from './batchnorm';
import { layerInitializers, type InitScheme } from './init';

/**
 * MLP backbone: flatten the image, then one block per hidden width,
 *   h_k = ReLU( BN( W_k h_{k-1} ) ),   h_0 = flatten(x),
 * so the feature dimension is the last hidden width. The Dense layers have no bias because the
 * BatchNorm shift that follows makes it redundant. Because of the flatten, the input shape is fixed:
 * the model only accepts images of exactly `inputShape` (no multi-crop small views).
 *
 * Layers are named bb_in, bb_flatten, bb_fc{k}, bb_bn{k}, bb_relu{k}; kernels are He-uniform with seed + k
 * (init 'tfjs') or PyTorch's default U(+-1 / sqrt(fan_in)) ('torch').
 */
export function buildMlpBackbone(
  inputShape: [number, number, number],
  hidden: number[],
  seed: number,
  init: InitScheme = 'tfjs',
): tf.LayersModel {
  if (hidden.length === 0 || hidden.some((width) => !Number.isInteger(width) || width < 1)) {
    throw new Error(
      `mlp encoder: hidden must be a non-empty list of positive integers, got [${hidden.join(', ')}]`,
    );
  }
  const input = tf.input({ shape: inputShape, name: 'bb_in' });
  let x = tf.layers.flatten({ name: 'bb_flatten' }).apply(input) as tf.SymbolicTensor;
  let inDim = inputShape.reduce((a, b) => a * b, 1);
  hidden.forEach((width, k) => {
    const { kernelInitializer } = layerInitializers(init, inDim, seed + k, () =>
      tf.initializers.heUniform({ seed: tfjsSeed(seed + k) }),
    );
    inDim = width;
    x = tf.layers
      .dense({
        units: width,
        useBias: false,
        kernelInitializer,
        name: `bb_fc${k}`,
      })
      .apply(x) as tf.SymbolicTensor;
    x = batchNormalization({ momentum: 0.9, epsilon: 1e-5, name: `bb_bn${k}` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ name: `bb_relu${k}` }).apply(x) as tf.SymbolicTensor;
  });
  return tf.model({ inputs: input, outputs: x, name: 'backbone' });
}
