import * as tf from '@tensorflow/tfjs';
import { ENCODER_PRESETS } from './presets';
import type { EncoderSpec, Network } from './types';
import { createNetwork } from './network';
import { buildMlpHead, type MlpHeadSpec } from './heads';
import { buildMlpBackbone } from './mlp';
import { buildConvNetBackbone } from './convnet';
import { buildResNetBackbone } from './resnet';
import type { LayerOptions } from './init';

export type { EncoderSpec, Network } from './types';
export type { InitScheme, LayerOptions, PaddingScheme } from './init';
export { ENCODER_PRESETS };

/** The projector head on top of the backbone features. */
export type ProjectorSpec = MlpHeadSpec;

// Backbone layers are seeded with seed + layer index; the projector starts far above any backbone index
// so the two never share an initialiser seed.
const PROJECTOR_SEED_OFFSET = 1000;

/**
 * True when the encoder ends in global pooling and so accepts images of any height and width
 * (needed for multi-crop small views). The MLP flattens the image and needs its exact build shape.
 */
export function encoderAcceptsAnyImageSize(encoder: EncoderSpec): boolean {
  return encoder.type !== 'mlp';
}

/**
 * The backbone alone: images [N, H, W, C] float32 (already standardised by the trainer) -> features [N, F].
 * `layers` picks the initialisation and the strided-conv padding (TF.js's by default; see init.ts).
 */
export function buildBackbone(
  encoder: EncoderSpec,
  inputShape: [number, number, number],
  seed: number,
  layers: LayerOptions = {},
): tf.LayersModel {
  const channels = inputShape[2];
  if (!Number.isInteger(channels) || channels < 1) {
    throw new Error(
      `inputShape must be [height, width, channels] with channels a positive integer, got [${inputShape.join(', ')}]`,
    );
  }
  switch (encoder.type) {
    case 'mlp':
      if (inputShape.some((size) => !Number.isInteger(size) || size < 1)) {
        throw new Error(
          `encoder 'mlp' flattens the image, so it needs a fixed inputShape [height, width, channels] of positive ` +
            `integers, got [${inputShape.join(', ')}]; pass the dataset's image shape. It only accepts that exact size, ` +
            `so multi-crop small views need a 'convnet' or 'resnet' encoder.`,
        );
      }
      return buildMlpBackbone(inputShape, encoder.hidden, seed, layers.init);
    case 'convnet':
      return buildConvNetBackbone(channels, encoder.channels, seed, layers.init);
    case 'resnet':
      return buildResNetBackbone(channels, encoder.widths, encoder.blocks, seed, layers);
    default: {
      const unknown: never = encoder;
      throw new Error(
        `unknown encoder type '${(unknown as { type: string }).type}'; use 'mlp', 'convnet' or 'resnet'`,
      );
    }
  }
}

/**
 * Builds backbone + projector as a Network (createNetwork), deterministic in `seed`: the same options give
 * identical weights and identical weight names. The input is float32 [N, H, W, C] passed through as is (the
 * trainer standardises per channel before forward). convnet/resnet accept any H, W; mlp only `inputShape`.
 */
export function buildNetwork(opts: {
  encoder: EncoderSpec;
  projector: ProjectorSpec;
  inputShape: [number, number, number];
  seed: number;
  /** Initialisation and padding of every layer (RunConfig nn.init, nn.padding); TF.js's by default. */
  layers?: LayerOptions;
}): Network {
  const { encoder, projector, inputShape, seed, layers = {} } = opts;
  return createNetwork(() => {
    const backbone = buildBackbone(encoder, inputShape, seed, layers);
    const featureDim = backbone.outputs[0].shape[1] as number;
    return {
      backbone,
      projector: buildMlpHead(featureDim, projector, seed + PROJECTOR_SEED_OFFSET, 'proj', layers.init),
    };
  });
}

/**
 * One line for logs and the UI. ResNet-18 with a SimCLR projector {layers 2, hidden 2048, out 128, batchNorm}:
 * "backbone 11,168,832 params -> 512 features, projector 1,314,944 params -> 128 dims, total 12,483,776".
 */
export function describeNetwork(net: Network): string {
  const counts = net.parameterCount();
  const fmt = (n: number) => n.toLocaleString('en-US');
  return (
    `backbone ${fmt(counts.backbone)} params -> ${net.featureDim} features, ` +
    `projector ${fmt(counts.projector)} params -> ${net.embeddingDim} dims, total ${fmt(counts.total)}`
  );
}
