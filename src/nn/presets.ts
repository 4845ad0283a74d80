import type { EncoderSpec } from './types';

/** Named encoders (plain data, no tfjs: the config panel lists them). */
export const ENCODER_PRESETS: Record<string, EncoderSpec> = {
  resnet18: { type: 'resnet', widths: [64, 128, 256, 512], blocks: [2, 2, 2, 2] },
  'resnet-small': { type: 'resnet', widths: [32, 64, 128], blocks: [1, 1, 1] }, // the playground default
  'resnet-tiny': { type: 'resnet', widths: [8, 16], blocks: [1, 1] }, // browser tests
  convnet: { type: 'convnet', channels: [32, 64, 128] },
  mlp: { type: 'mlp', hidden: [512, 256] },
};
