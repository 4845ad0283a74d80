import * as tf from '@tensorflow/tfjs';
import { lossInfo } from '../losses/catalog';
import { denseConsistency, denseSums, type DenseConsistency, type DenseSums } from '../metrics/index';
import { correspondenceMasks, type ViewGeometry } from '../nn/pixel_pairs';
import { Rng } from '../nn/random';
import type { Network } from '../nn/types';
import { makeViewsWithGeometry } from './augment';
import type { RunConfig } from './config';
import { batchToTensor } from './data/index';
import type { DatasetSplit } from './data/types';
import { yieldToHost } from './host';

/** At most this many eval images go into the dense diagnostic (it compares every cell pair of an image). */
export const DENSE_EVAL_IMAGES = 512;
/** Images per forward pass. */
const CHUNK = 128;
/** The threshold when the objective has no T of its own. */
const DEFAULT_THRESHOLD = 0.7;

export interface DenseEvalContext {
  network: Network;
  /** The eval split; its first `count` images (at most DENSE_EVAL_IMAGES) are used. */
  split: DatasetSplit;
  count: number;
  imageShape: [number, number, number];
  /** The trainer's input standardisation. */
  standardize: (images: tf.Tensor4D) => tf.Tensor4D;
  /** Seed of the two augmented views (the same at every evaluation, so the curve follows the weights). */
  seed: number;
}

/**
 * The dense diagnostic of a run whose objective pairs pixels (catalogue inputs 'geometry', pixpro), else
 * undefined: two augmented views of each eval image with the run's augmentation, the backbone's spatial maps in
 * inference mode, and the mean cosine of corresponding and of non-corresponding cells (metrics/dense_consistency,
 * pairs at the objective's threshold T).
 */
export async function denseDiagnostic(
  config: RunConfig,
  ctx: DenseEvalContext,
): Promise<DenseConsistency | undefined> {
  if ((lossInfo(config.loss.id).inputs ?? 'augmented') !== 'geometry') return undefined;
  const threshold = config.loss.params.T ?? DEFAULT_THRESHOLD;
  const count = Math.min(ctx.count, DENSE_EVAL_IMAGES, ctx.split.count);
  const rng = new Rng(ctx.seed);
  const parts: DenseSums[] = [];
  for (let start = 0; start < count; start += CHUNK) {
    const indices = Array.from({ length: Math.min(CHUNK, count - start) }, (_, k) => start + k);
    let geometry: ViewGeometry[][] = [];
    const [a, b] = tf.tidy(() => {
      const images = batchToTensor(ctx.split, indices, ctx.imageShape);
      const drawn = makeViewsWithGeometry(
        images,
        config.augment,
        { ...config.views, large: 2, small: 0 },
        rng,
      );
      geometry = drawn.geometry;
      return drawn.views.map((view) => ctx.network.forwardSpatial(ctx.standardize(view), false).map);
    });
    try {
      const [, h, w] = a.shape;
      parts.push(await denseSums(a, b, correspondenceMasks(geometry[0], geometry[1], h, w, threshold)));
    } finally {
      tf.dispose([a, b]);
    }
    await yieldToHost();
  }
  return denseConsistency(parts, threshold);
}
