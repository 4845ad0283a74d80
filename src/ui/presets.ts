import type { RunConfigInput } from '../engine/config';

/** Starting points for the config panel; each is a partial RunConfig completed by the schema defaults. */
export interface ConfigPreset {
  id: string;
  label: string;
  config: RunConfigInput;
}

const GRAYSCALE_AUGMENT: RunConfigInput['augment'] = {
  crop: { scale: [0.3, 1], ratio: [3 / 4, 4 / 3] },
  flip: 0.5,
  jitter: { brightness: 0.4, contrast: 0.4, saturation: 0, hue: 0, p: 0.8 },
  grayscale: 0,
};

const FASHION: RunConfigInput['dataset'] = { id: 'fashion-mnist' };
const RESNET_SMALL: RunConfigInput['encoder'] = { type: 'resnet', widths: [32, 64, 128], blocks: [1, 1, 1] };
const PLAYGROUND_OPTIMIZER: RunConfigInput['optimizer'] = { type: 'adamw', lr: 1e-3, weightDecay: 1e-6 };

export const CONFIG_PRESETS: ConfigPreset[] = [
  {
    id: 'simclr-cifar',
    label: 'SimCLR · CIFAR-10',
    config: {
      name: 'SimCLR CIFAR-10',
      dataset: { id: 'cifar10' },
      encoder: RESNET_SMALL,
      projector: { layers: 2, hidden: 512, out: 128, batchNorm: true },
      loss: { id: 'ntxent', params: { tau: 0.5 } },
      batchSize: 256,
      epochs: 20,
      optimizer: PLAYGROUND_OPTIMIZER,
      schedule: { type: 'cosine', warmupEpochs: 1 },
      eval: { every: 200, size: 2048, bankSize: 10_000 },
    },
  },
  {
    id: 'simclr-fashion',
    label: 'SimCLR · Fashion-MNIST',
    config: {
      name: 'SimCLR Fashion-MNIST',
      dataset: FASHION,
      encoder: RESNET_SMALL,
      projector: { layers: 2, hidden: 256, out: 64, batchNorm: true },
      loss: { id: 'ntxent', params: { tau: 0.5 } },
      augment: GRAYSCALE_AUGMENT,
      batchSize: 128,
      epochs: 10,
      optimizer: PLAYGROUND_OPTIMIZER,
      eval: { every: 200, size: 2048, bankSize: 10_000 },
    },
  },
  {
    id: 'supcon',
    label: 'SupCon · Fashion-MNIST',
    config: {
      name: 'SupCon Fashion-MNIST',
      dataset: FASHION,
      encoder: RESNET_SMALL,
      projector: { layers: 2, hidden: 256, out: 64, batchNorm: true },
      loss: { id: 'supcon', params: { tau: 0.1 } },
      augment: GRAYSCALE_AUGMENT,
      batchSize: 128,
      epochs: 10,
      optimizer: PLAYGROUND_OPTIMIZER,
    },
  },
  {
    id: 'barlow',
    label: 'Barlow Twins · Fashion-MNIST',
    config: {
      name: 'Barlow Twins Fashion-MNIST',
      dataset: FASHION,
      encoder: RESNET_SMALL,
      projector: { layers: 3, hidden: 512, out: 512, batchNorm: true },
      loss: { id: 'barlow_twins' },
      augment: GRAYSCALE_AUGMENT,
      batchSize: 128,
      epochs: 10,
      optimizer: PLAYGROUND_OPTIMIZER,
    },
  },
  {
    id: 'mv-dhel',
    label: 'MV-DHEL · 4 views',
    config: {
      name: 'MV-DHEL 4 views',
      dataset: FASHION,
      encoder: RESNET_SMALL,
      projector: { layers: 2, hidden: 256, out: 64, batchNorm: true },
      loss: { id: 'mv_dhel', params: { tau: 0.5 } },
      views: { large: 4 },
      augment: GRAYSCALE_AUGMENT,
      batchSize: 64,
      epochs: 10,
      optimizer: PLAYGROUND_OPTIMIZER,
    },
  },
  {
    // small enough for a software WebGPU adapter: the e2e tests use it
    id: 'tiny',
    label: 'Tiny test run (synthetic)',
    config: {
      name: 'tiny',
      dataset: {
        id: 'synthetic',
        synthetic: { classes: 4, trainCount: 64, testCount: 32, size: 8, channels: 3 },
      },
      encoder: { type: 'resnet', widths: [8, 16], blocks: [1, 1] },
      projector: { layers: 2, hidden: 32, out: 16, batchNorm: true },
      loss: { id: 'ntxent', params: { tau: 0.5 } },
      augment: { crop: { scale: [0.5, 1], ratio: [3 / 4, 4 / 3] }, flip: 0.5, jitter: null, grayscale: 0 },
      batchSize: 8,
      epochs: 1,
      stepsPerEpoch: 6,
      optimizer: { type: 'adam', lr: 1e-3 },
      schedule: { type: 'constant' },
      eval: { every: 3, size: 32, bankSize: 64, knnK: 10 },
      checkpointEvery: 3,
    },
  },
];

export function presetById(id: string): ConfigPreset | undefined {
  return CONFIG_PRESETS.find((preset) => preset.id === id);
}
