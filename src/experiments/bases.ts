// The shared starting points of the experiments' two scales, and grid-axis helpers. Plain data (no tfjs).
import type { RunConfigInput } from '../engine/config';
import { ENCODER_PRESETS } from '../nn/presets';
import type { AxisOption, GridAxis } from './types';

/** Fields merged over a base: nested objects merge, everything else replaces. */
export function merge(base: RunConfigInput, overrides: Record<string, unknown>): RunConfigInput {
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(overrides)) {
    const current = out[key];
    out[key] =
      isPlainObject(current) && isPlainObject(value)
        ? merge(current as RunConfigInput, value as Record<string, unknown>)
        : value;
  }
  return out as RunConfigInput;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Quick scale: the first 10,000 Fashion-MNIST training images (shipped with the app), a 3-stage ConvNet
 * (h: 128 dims), a 2-layer projector to 128 dims, batch 128, 4 epochs (312 steps), kNN on 2,000 test images
 * against a 5,000-image bank. A few minutes per run on a laptop GPU.
 */
export const QUICK_BASE: RunConfigInput = {
  dataset: { id: 'fashion-mnist', trainLimit: 10_000 },
  encoder: ENCODER_PRESETS['convnet'],
  projector: { layers: 2, hidden: 256, out: 128, batchNorm: true },
  augment: {
    crop: { scale: [0.3, 1], ratio: [3 / 4, 4 / 3] },
    flip: 0.5,
    jitter: { brightness: 0.4, contrast: 0.4, saturation: 0, hue: 0, p: 0.8 },
    grayscale: 0,
  },
  views: { large: 2, small: 0 },
  batchSize: 128,
  epochs: 4,
  optimizer: { type: 'adamw', lr: 1e-3, weightDecay: 1e-6 },
  schedule: { type: 'cosine', warmupEpochs: 0 },
  eval: { every: 78, size: 2000, bankSize: 5000, knnK: 200, knnTemperature: 0.1, pca: false },
  checkpointEvery: 0,
};

/**
 * Full scale: CIFAR-10 (all 50,000 training images), the CIFAR ResNet-18, SimCLR's projector (2048 -> 128),
 * SimCLR's augmentations, batch 256, 200 epochs (39,000 steps), kNN on the 10,000 test images against the whole
 * training set every 10 epochs. Hours per run on a GPU.
 */
export const FULL_BASE: RunConfigInput = {
  dataset: { id: 'cifar10' },
  encoder: ENCODER_PRESETS['resnet18'],
  projector: { layers: 2, hidden: 2048, out: 128, batchNorm: true },
  views: { large: 2, small: 0 },
  batchSize: 256,
  epochs: 200,
  optimizer: { type: 'adamw', lr: 1e-3, weightDecay: 1e-6 },
  schedule: { type: 'cosine', warmupEpochs: 10 },
  eval: { every: 1950, size: 10_000, bankSize: 50_000, knnK: 200, knnTemperature: 0.1, pca: false },
  checkpointEvery: 0,
};

/** An axis over the values of one config field, e.g. valuesAxis('tau', 'temperature tau', 'loss.params.tau', [0.1, 0.5]). */
export function valuesAxis(name: string, label: string, path: string, values: number[]): GridAxis {
  return {
    name,
    label,
    options: values.map((value) => ({ label: String(value), value, set: { [path]: value } })),
  };
}

/** An axis of named arms, each setting several fields. */
export function armsAxis(name: string, label: string, options: AxisOption[]): GridAxis {
  return { name, label, options };
}
