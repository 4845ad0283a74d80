import * as tf from '@tensorflow/tfjs';
import { tfjsSeed } from './random';
import { batchNormalization } from './batchnorm';
import { conv2d } from './conv';
import { layerInitializers, type InitScheme } from './init';

/**
 * Small ConvNet backbone: per stage k with width c_k,
 *   x <- MaxPool2x2( ReLU( BN( Conv3x3_same(x) ) ) ),
 * then global average pooling, so the feature dimension is the last width. Convs have no bias (BN
 * follows). Height and width are left open, so any image size works (multi-crop small views); the pool
 * uses 'same' padding so odd sizes keep their border and a 1x1 map stays 1x1 instead of vanishing.
 *
 * Layers are named bb_in, bb_conv{k}, bb_bn{k}, bb_relu{k}, bb_pool{k}, bb_gap; kernels are He-normal with seed + k
 * (init 'tfjs') or PyTorch's default U(+-1 / sqrt(fan_in)) ('torch'). Every conv has stride 1, so TensorFlow's
 * 'same' padding is PyTorch's padding=1 here.
 */
export function buildConvNetBackbone(
  inputChannels: number,
  channels: number[],
  seed: number,
  init: InitScheme = 'tfjs',
): tf.LayersModel {
  if (channels.length === 0 || channels.some((width) => !Number.isInteger(width) || width < 1)) {
    throw new Error(
      `convnet encoder: channels must be a non-empty list of positive integers, got [${channels.join(', ')}]`,
    );
  }
  const input = tf.input({ shape: [null, null, inputChannels], name: 'bb_in' });
  let x: tf.SymbolicTensor = input;
  let inChannels = inputChannels;
  channels.forEach((width, k) => {
    const { kernelInitializer } = layerInitializers(init, 9 * inChannels, seed + k, () =>
      tf.initializers.heNormal({ seed: tfjsSeed(seed + k) }),
    );
    inChannels = width;
    x = conv2d({
      filters: width,
      kernelSize: 3,
      padding: 'same',
      useBias: false,
      kernelInitializer,
      name: `bb_conv${k}`,
    }).apply(x) as tf.SymbolicTensor;
    x = batchNormalization({ momentum: 0.9, epsilon: 1e-5, name: `bb_bn${k}` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ name: `bb_relu${k}` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers
      .maxPooling2d({ poolSize: 2, strides: 2, padding: 'same', name: `bb_pool${k}` })
      .apply(x) as tf.SymbolicTensor;
  });
  const features = tf.layers.globalAveragePooling2d({ name: 'bb_gap' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: features, name: 'backbone' });
}
