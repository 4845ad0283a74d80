import * as tf from '@tensorflow/tfjs';
import { tfjsSeed } from './random';
import { batchNormalization } from './batchnorm';
import { conv2d } from './conv';

/**
 * CIFAR-style ResNet backbone (He et al. 2016, "Deep Residual Learning for Image Recognition", with the
 * usual CIFAR stem used by SimCLR/MoCo CIFAR code: a 3x3 stride-1 conv and no max-pool).
 *
 *   stem:   x <- ReLU( BN( Conv3x3(x, widths[0]) ) )
 *   stage s (stride 1 for s = 0, else 2), blocks[s] BasicBlocks of width widths[s]:
 *           y   = BN( Conv3x3( ReLU( BN( Conv3x3_stride(x) ) ) ) )
 *           sc  = x                               if the shape is unchanged
 *                 BN( Conv1x1_stride(x) )         otherwise (projection shortcut)
 *           x  <- ReLU( y + sc )
 *   head:   global average pool -> features [N, widths[S-1]]
 *
 * Convs have no bias (BN follows). widths [64, 128, 256, 512] with blocks [2, 2, 2, 2] is ResNet-18
 * (11,168,832 trainable backbone parameters on RGB input). Height and width are left open, so any image
 * size works. Kernels use He-normal with fan_out as torchvision's ResNet does, seeded with seed + conv index.
 *
 * Layer names: bb_stem_{conv,bn,relu}, bb_s{s}b{b}_{conv1,bn1,relu1,conv2,bn2,down_conv,down_bn,add,relu2}, bb_gap.
 */
export function buildResNetBackbone(
  inputChannels: number,
  widths: number[],
  blocks: number[],
  seed: number,
): tf.LayersModel {
  if (widths.length === 0 || widths.some((width) => !Number.isInteger(width) || width < 1)) {
    throw new Error(
      `resnet encoder: widths must be a non-empty list of positive integers, got [${widths.join(', ')}]`,
    );
  }
  if (blocks.length !== widths.length || blocks.some((count) => !Number.isInteger(count) || count < 1)) {
    throw new Error(
      `resnet encoder: blocks must list one positive integer per stage (${widths.length} stages from widths), ` +
        `got [${blocks.join(', ')}]`,
    );
  }
  let convIndex = 0;
  const conv = (x: tf.SymbolicTensor, filters: number, kernelSize: number, strides: number, name: string) =>
    conv2d({
      filters,
      kernelSize,
      strides,
      padding: 'same',
      useBias: false,
      kernelInitializer: tf.initializers.varianceScaling({
        scale: 2,
        mode: 'fanOut',
        distribution: 'normal',
        seed: tfjsSeed(seed + convIndex++),
      }),
      name,
    }).apply(x) as tf.SymbolicTensor;
  const batchNorm = (x: tf.SymbolicTensor, name: string) =>
    batchNormalization({ momentum: 0.9, epsilon: 1e-5, name }).apply(x) as tf.SymbolicTensor;
  const relu = (x: tf.SymbolicTensor, name: string) => tf.layers.reLU({ name }).apply(x) as tf.SymbolicTensor;

  const input = tf.input({ shape: [null, null, inputChannels], name: 'bb_in' });
  let x = relu(batchNorm(conv(input, widths[0], 3, 1, 'bb_stem_conv'), 'bb_stem_bn'), 'bb_stem_relu');
  let channels = widths[0];
  widths.forEach((width, s) => {
    for (let b = 0; b < blocks[s]; b++) {
      const stride = s > 0 && b === 0 ? 2 : 1;
      const prefix = `bb_s${s}b${b}`;
      let y = relu(
        batchNorm(conv(x, width, 3, stride, `${prefix}_conv1`), `${prefix}_bn1`),
        `${prefix}_relu1`,
      );
      y = batchNorm(conv(y, width, 3, 1, `${prefix}_conv2`), `${prefix}_bn2`);
      const shortcut =
        stride !== 1 || channels !== width
          ? batchNorm(conv(x, width, 1, stride, `${prefix}_down_conv`), `${prefix}_down_bn`)
          : x;
      x = relu(
        tf.layers.add({ name: `${prefix}_add` }).apply([y, shortcut]) as tf.SymbolicTensor,
        `${prefix}_relu2`,
      );
      channels = width;
    }
  });
  const features = tf.layers.globalAveragePooling2d({ name: 'bb_gap' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: features, name: 'backbone' });
}
