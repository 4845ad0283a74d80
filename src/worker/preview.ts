import * as tf from '@tensorflow/tfjs';
import { makeViews } from '../engine/augment';
import type { RunConfig } from '../engine/config';
import { batchToTensor } from '../engine/data/index';
import type { Dataset } from '../engine/data/types';
import { Rng } from '../nn/random';
import type { PreviewView } from './protocol';

/** Float [0, 1] NHWC pixels of one image (1 or 3 channels) as RGBA bytes for ImageData. */
export function toRgba(
  values: Float32Array | Uint8Array,
  offset: number,
  height: number,
  width: number,
  channels: number,
  scale: number,
): Uint8ClampedArray {
  const rgba = new Uint8ClampedArray(height * width * 4);
  for (let p = 0; p < height * width; p++) {
    const base = offset + p * channels;
    const r = values[base] * scale;
    rgba[p * 4] = r;
    rgba[p * 4 + 1] = channels >= 3 ? values[base + 1] * scale : r;
    rgba[p * 4 + 2] = channels >= 3 ? values[base + 2] * scale : r;
    rgba[p * 4 + 3] = 255;
  }
  return rgba;
}

/**
 * The preview grid: for each of the first `count` training images, the original followed by the views
 * makeViews produces under the config's augmentation and view settings (seeded, so the grid is stable).
 */
export async function augmentPreview(
  config: RunConfig,
  dataset: Dataset,
  count: number,
  seed: number,
): Promise<{ labels: number[]; views: PreviewView[][] }> {
  const train = await dataset.train();
  const n = Math.min(count, train.count);
  const indices = Array.from({ length: n }, (_, i) => i);
  const [height, width, channels] = dataset.imageShape;
  const grid: PreviewView[][] = indices.map((i) => [
    { width, height, rgba: toRgba(train.images, i * height * width * channels, height, width, channels, 1) },
  ]);
  const viewTensors = tf.tidy(() =>
    makeViews(batchToTensor(train, indices, dataset.imageShape), config.augment, config.views, new Rng(seed)),
  );
  try {
    for (const view of viewTensors) {
      const [, vh, vw, vc] = view.shape;
      const values = (await view.data()) as Float32Array;
      for (let i = 0; i < n; i++)
        grid[i].push({ width: vw, height: vh, rgba: toRgba(values, i * vh * vw * vc, vh, vw, vc, 255) });
    }
  } finally {
    tf.dispose(viewTensors);
  }
  return { labels: Array.from(train.labels.subarray(0, n)), views: grid };
}
