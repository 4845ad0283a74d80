import { Rng } from '../../nn/random';
import type { DatasetSplit, DatasetTarget } from './types';

/** What a run config says about the regression target (RunConfig dataset.target and dataset.maxRotation). */
export interface TargetSpec {
  target: DatasetTarget;
  maxRotation: number;
}

/**
 * Rotates every image of `images` (count x H x W x C bytes) by its angle in degrees (counter-clockwise in the
 * picture, about the image centre), sampling bilinearly and clamping to the border (an out-of-image point takes
 * the nearest border pixel, so no black corners betray the angle).
 */
export function rotateImages(
  images: Uint8Array,
  [height, width, channels]: readonly [number, number, number],
  angles: Float32Array,
): Uint8Array {
  const out = new Uint8Array(images.length);
  const size = height * width * channels;
  const cy = (height - 1) / 2;
  const cx = (width - 1) / 2;
  const pixel = (base: number, y: number, x: number, c: number): number => {
    const yy = Math.min(height - 1, Math.max(0, y));
    const xx = Math.min(width - 1, Math.max(0, x));
    return images[base + (yy * width + xx) * channels + c];
  };
  for (let i = 0; i < angles.length; i++) {
    const theta = (angles[i] * Math.PI) / 180;
    const cos = Math.cos(theta);
    const sin = Math.sin(theta);
    const base = i * size;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        // the source of output pixel (x, y): rotate it back by -theta (y grows downwards in an image)
        const dx = x - cx;
        const dy = y - cy;
        const sx = cx + cos * dx - sin * dy;
        const sy = cy + sin * dx + cos * dy;
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        const fx = sx - x0;
        const fy = sy - y0;
        for (let c = 0; c < channels; c++) {
          const value =
            (1 - fy) * ((1 - fx) * pixel(base, y0, x0, c) + fx * pixel(base, y0, x0 + 1, c)) +
            fy * ((1 - fx) * pixel(base, y0 + 1, x0, c) + fx * pixel(base, y0 + 1, x0 + 1, c));
          out[base + (y * width + x) * channels + c] = Math.round(value);
        }
      }
    }
  }
  return out;
}

/** Seeds of the rotation angles of the train and test splits, derived from the run's seed. */
function rotationSeeds(seed: number): [number, number] {
  const seeds = new Rng((seed ^ 0x6a09e667) >>> 0);
  return [seeds.fork(), seeds.fork()];
}

/**
 * The splits a run trains and evaluates on for its target (dataset.target):
 * - 'class': the splits without targets;
 * - 'rotation': every image rotated by its angle, drawn uniformly from [-maxRotation, maxRotation] degrees by a
 *   stream seeded from the run's seed (one for the train split, one for the test split), the angle as its target;
 * - 'size': the splits as they are, with the targets the dataset generated (the synthetic shapes' size).
 * Same splits, spec and seed give the same bytes and targets.
 */
export function applyTarget(
  splits: { train: DatasetSplit; test: DatasetSplit },
  imageShape: readonly [number, number, number],
  spec: TargetSpec,
  seed: number,
): { train: DatasetSplit; test: DatasetSplit } {
  const strip = ({ images, labels, count }: DatasetSplit): DatasetSplit => ({ images, labels, count });
  switch (spec.target) {
    case 'class':
      return { train: strip(splits.train), test: strip(splits.test) };
    case 'size': {
      for (const [name, split] of Object.entries(splits)) {
        if (!split.targets || split.targets.length !== split.count) {
          throw new Error(
            `dataset.target 'size': the ${name} split has no size target (only the synthetic dataset generates one); use 'rotation' or 'class'`,
          );
        }
      }
      return splits;
    }
    case 'rotation': {
      const [trainSeed, testSeed] = rotationSeeds(seed);
      const rotate = (split: DatasetSplit, splitSeed: number): DatasetSplit => {
        const rng = new Rng(splitSeed);
        const angles = Float32Array.from({ length: split.count }, () =>
          rng.uniform(-spec.maxRotation, spec.maxRotation),
        );
        return {
          images: rotateImages(split.images, imageShape, angles),
          labels: split.labels,
          count: split.count,
          targets: angles,
        };
      };
      return { train: rotate(splits.train, trainSeed), test: rotate(splits.test, testSeed) };
    }
  }
}
