import * as tf from '@tensorflow/tfjs';
import { tfjsSeed } from './random';
import { batchNormalization } from './batchnorm';
import { conv2d } from './conv';
import { layerInitializers, type LayerOptions } from './init';

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
 * size works. Kernels use He-normal with fan_out as torchvision's ResNet does (options.init 'tfjs', the
 * default) or PyTorch's default U(+-1 / sqrt(fan_in)) ('torch'), seeded with seed + conv index.
 *
 * Padding (options.padding): 'same' is TensorFlow's, which pads a 3x3 stride-2 conv on an even input only at the
 * bottom and right, so its output pixel i is centred on input 2i + 1 while the 1x1 stride-2 shortcut reads 2i;
 * 'symmetric' pads one pixel on every side first (a bb_..._pad layer, then a 'valid' conv), as PyTorch's
 * padding=1, so both paths are centred on 2i. Stride-1 convs are the same either way.
 *
 * Layer names: bb_stem_{conv,bn,relu}, bb_s{s}b{b}_{conv1,bn1,relu1,conv2,bn2,down_conv,down_bn,add,relu2}, bb_gap.
 */
export function buildResNetBackbone(
  inputChannels: number,
  widths: number[],
  blocks: number[],
  seed: number,
  options: LayerOptions = {},
): tf.LayersModel {
  const { init = 'tfjs', padding = 'same' } = options;
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
  const conv = (x: tf.SymbolicTensor, filters: number, kernelSize: number, strides: number, name: string) => {
    const inChannels = x.shape[x.shape.length - 1] as number;
    const { kernelInitializer } = layerInitializers(
      init,
      kernelSize * kernelSize * inChannels,
      seed + convIndex,
      () =>
        tf.initializers.varianceScaling({
          scale: 2,
          mode: 'fanOut',
          distribution: 'normal',
          seed: tfjsSeed(seed + convIndex),
        }),
    );
    convIndex++;
    // PyTorch's padding = k // 2 differs from 'same' only for a strided conv whose kernel is wider than 1
    const symmetric = padding === 'symmetric' && strides > 1 && kernelSize > 1;
    if (symmetric) {
      const pad = Math.floor(kernelSize / 2);
      x = tf.layers
        .zeroPadding2d({
          padding: [
            [pad, pad],
            [pad, pad],
          ],
          name: `${name}_pad`,
        })
        .apply(x) as tf.SymbolicTensor;
    }
    return conv2d({
      filters,
      kernelSize,
      strides,
      padding: symmetric ? 'valid' : 'same',
      useBias: false,
      kernelInitializer,
      name,
    }).apply(x) as tf.SymbolicTensor;
  };
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
