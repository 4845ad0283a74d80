import type * as tf from '@tensorflow/tfjs';
import { lossInfo } from '../losses/catalog';
import type { Rng } from '../nn/random';
import { makeViews, makeViewsWithGeometry, type ViewGeometry } from './augment';
import type { RunConfig } from './config';

/**
 * The views one training step feeds the objective, as its catalogue entry asks (`inputs`): augmented views
 * (makeViews), the same views with their crop boxes and flips (makeViewsWithGeometry: same random draws, same
 * images), or the clean images as the only view (the augment section is ignored, no random draws). Images are
 * [N, H, W, C] in [0, 1]; the caller owns (and standardises) the views. geometry is null unless asked for.
 */
export function trainingViews(
  images: tf.Tensor4D,
  config: RunConfig,
  rng: Rng,
): { views: tf.Tensor4D[]; geometry: ViewGeometry[][] | null } {
  switch (lossInfo(config.loss.id).inputs ?? 'augmented') {
    case 'clean':
      return { views: [images.clone()], geometry: null };
    case 'geometry':
      return makeViewsWithGeometry(images, config.augment, config.views, rng);
    default:
      return { views: makeViews(images, config.augment, config.views, rng), geometry: null };
  }
}
