import * as tf from '@tensorflow/tfjs';
import { tfjsSeed } from './random';
import { batchNormalization } from './batchnorm';
import { conv2d } from './conv';

type UpSamplingArgs = Parameters<typeof tf.layers.upSampling2d>[0];

/** The parts of tfjs-layers' UpSampling2D this subclass reads (protected there). */
interface UpSamplingFields {
  size: number[];
  dataFormat: 'channelsFirst' | 'channelsLast';
  interpolation: 'nearest' | 'bilinear';
}

/** tfjs-layers' UpSampling2D class (not exported by name: taken from an instance). */
const UpSampling2DBase = tf.layers.upSampling2d({ name: 'project_upsampling_prototype' }).constructor as new (
  args: UpSamplingArgs,
) => tf.layers.Layer;

/**
 * Nearest-neighbour upsampling of x [N, H, W, C] by whole factors, y[n, sh i + a, sw j + b, c] = x[n, i, j, c], as
 * reshapes and tiles; its gradient sums each sh x sw block of dy as a Sum over a (size sh), then one over b (size
 * sw): at the decoder's 2 x 2, one float addition each, the same on every backend.
 */
function nearestUpsample(x: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  const [N, H, W, C] = x.shape;
  const upsample = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.tidy(() => {
      const input = inputs[0] as tf.Tensor;
      // each pixel repeated sw times along its row, then each row repeated sh times
      const columns = tf.tile(tf.reshape(input, [N * H * W, 1, C]), [1, sw, 1]);
      const rows = tf.tile(tf.reshape(columns, [N * H, 1, W * sw * C]), [1, sh, 1]);
      return tf.reshape(rows, [N, H * sh, W * sw, C]);
    }),
    gradFunc: (dy: tf.Tensor) =>
      tf.tidy(() => {
        const rows = tf.sum(tf.reshape(dy, [N * H, sh, W * sw * C]), 1);
        return tf.reshape(tf.sum(tf.reshape(rows, [N * H * W, sw, C]), 1), [N, H, W, C]);
      }),
  }));
  return upsample(x) as tf.Tensor4D;
}

/**
 * tfjs-layers' UpSampling2D, but nearest-neighbour NHWC upsampling by whole factors runs as nearestUpsample
 * instead of tf.image.resizeNearestNeighbor. Same values; the difference is the gradient: tfjs-backend-cpu's
 * ResizeNearestNeighborGrad reads dy at the offset of the input's batch stride (b H W C instead of b sh H sw W C),
 * so every image after the first got another image's gradient and the cpu backend trained another decoder than
 * wasm and webgpu. Same class name and config.
 */
class ProjectUpSampling2D extends UpSampling2DBase {
  override call(
    inputs: tf.Tensor | tf.Tensor[],
    kwargs: tf.serialization.ConfigDict,
  ): tf.Tensor | tf.Tensor[] {
    const fields = this as unknown as UpSamplingFields;
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const [sh, sw] = fields.size;
    if (
      fields.dataFormat !== 'channelsLast' ||
      fields.interpolation !== 'nearest' ||
      x.rank !== 4 ||
      ![sh, sw].every((s) => Number.isInteger(s) && s >= 1)
    ) {
      return super.call(inputs, kwargs);
    }
    return nearestUpsample(x as tf.Tensor4D, sh, sw);
  }
}

/** An UpSampling2D layer (tf.layers.upSampling2d's arguments) whose gradient is right on every backend. */
export function upSampling2d(args: UpSamplingArgs): tf.layers.Layer {
  return new ProjectUpSampling2D(args);
}

/** Number of 2x upsampling stages of the decoder: the map starts at ceil(H / 4) x ceil(W / 4). */
export const DECODER_STAGES = 2;

/** What buildConvDecoder makes: the model and the sizes it was built for. */
export interface ConvDecoder {
  /** z [N, latentDim] -> [reconstruction [N, H, W, C], informative embedding [N, informativeDim]]. */
  readonly model: tf.LayersModel;
  readonly latentDim: number;
  readonly imageShape: [number, number, number];
  /** Width of the informative embedding: 4 * width (the pooled hidden maps, 2w + w + w channels). */
  readonly informativeDim: number;
}

/**
 * A small convolutional decoder p(x | z) for 2-D images (cMIM's decoder; Livne 2025). With c = `width`,
 * h0 = ceil(H / 4), w0 = ceil(W / 4):
 *
 *   a0 = ReLU( BN( reshape( Linear(z) ) ) )               [h0, w0, 2c]
 *   a1 = ReLU( BN( Conv3x3( Upsample2x(a0) ) ) )           [2 h0, 2 w0, c]
 *   a2 = ReLU( BN( Conv3x3( Upsample2x(a1) ) ) )           [4 h0, 4 w0, c]
 *   x^ = crop_{H x W}( Conv3x3(a2) + b )                    [H, W, C]   (the mean of p(x | z), linear)
 *
 * Its second output is the informative embedding of cMIM: the decoder's hidden states a0, a1, a2, each averaged
 * over its positions (global average pooling), concatenated: [N, 4c]. Upsampling is nearest-neighbour; the crop
 * keeps the top-left H x W when 4 h0 > H. Layers are named `${name}_{fc,bn0,up1,conv1,bn1,...,out,crop,gap*,info}`;
 * kernels are He-normal seeded with seed + layer index, the output conv Glorot-uniform.
 */
export function buildConvDecoder(opts: {
  latentDim: number;
  imageShape: [number, number, number];
  width: number;
  seed: number;
  name?: string;
}): ConvDecoder {
  const { latentDim, imageShape, width, seed } = opts;
  const name = opts.name ?? 'decoder';
  const [H, W, C] = imageShape;
  if (![latentDim, width, H, W, C].every((n) => Number.isInteger(n) && n >= 1)) {
    throw new Error(
      `decoder: latentDim, width and imageShape [H, W, C] must be positive integers, got latentDim ${latentDim}, ` +
        `width ${width}, imageShape [${imageShape.join(', ')}]`,
    );
  }
  const scale = 2 ** DECODER_STAGES;
  const [h0, w0] = [Math.ceil(H / scale), Math.ceil(W / scale)];
  const he = (k: number) => tf.initializers.heNormal({ seed: tfjsSeed(seed + k) });
  const bn = (x: tf.SymbolicTensor, layer: string) =>
    batchNormalization({ momentum: 0.9, epsilon: 1e-5, name: `${name}_${layer}` }).apply(
      x,
    ) as tf.SymbolicTensor;
  const relu = (x: tf.SymbolicTensor, layer: string) =>
    tf.layers.reLU({ name: `${name}_${layer}` }).apply(x) as tf.SymbolicTensor;
  const gap = (x: tf.SymbolicTensor, k: number) =>
    tf.layers.globalAveragePooling2d({ name: `${name}_gap${k}` }).apply(x) as tf.SymbolicTensor;

  const input = tf.input({ shape: [latentDim], name: `${name}_in` });
  let x = tf.layers
    .dense({ units: h0 * w0 * 2 * width, useBias: false, kernelInitializer: he(0), name: `${name}_fc` })
    .apply(input) as tf.SymbolicTensor;
  x = tf.layers
    .reshape({ targetShape: [h0, w0, 2 * width], name: `${name}_reshape` })
    .apply(x) as tf.SymbolicTensor;
  x = relu(bn(x, 'bn0'), 'relu0');
  const hidden = [x];
  for (let s = 1; s <= DECODER_STAGES; s++) {
    x = upSampling2d({ size: [2, 2], name: `${name}_up${s}` }).apply(x) as tf.SymbolicTensor;
    x = conv2d({
      filters: width,
      kernelSize: 3,
      padding: 'same',
      useBias: false,
      kernelInitializer: he(s),
      name: `${name}_conv${s}`,
    }).apply(x) as tf.SymbolicTensor;
    x = relu(bn(x, `bn${s}`), `relu${s}`);
    hidden.push(x);
  }
  let out = tf.layers
    .conv2d({
      filters: C,
      kernelSize: 3,
      padding: 'same',
      useBias: true,
      kernelInitializer: tf.initializers.glorotUniform({ seed: tfjsSeed(seed + DECODER_STAGES + 1) }),
      name: `${name}_out`,
    })
    .apply(x) as tf.SymbolicTensor;
  if (h0 * scale !== H || w0 * scale !== W) {
    out = tf.layers
      .cropping2D({
        cropping: [
          [0, h0 * scale - H],
          [0, w0 * scale - W],
        ],
        name: `${name}_crop`,
      })
      .apply(out) as tf.SymbolicTensor;
  }
  const informative = tf.layers
    .concatenate({ name: `${name}_info` })
    .apply(hidden.map((a, k) => gap(a, k))) as tf.SymbolicTensor;
  return {
    model: tf.model({ inputs: input, outputs: [out, informative], name }),
    latentDim,
    imageShape,
    informativeDim: 4 * width,
  };
}
