import * as tf from '@tensorflow/tfjs';
import { lse, normalizeRows } from '../nn/rows';
import { checkViews } from './views';
import type { LossModule } from './types';

export interface ClipParams extends Record<string, number> {
  tau: number;
}

/**
 * CLIP loss: symmetric cross-view InfoNCE (Radford et al. 2021, "Learning Transferable Visual Models
 * From Natural Language Supervision"; the two views play the image and text roles).
 *
 *   logits = norm(views[0]) norm(views[1])^T / tau   (N x N), targets = the diagonal
 *   L = ( CE(logits, diag) + CE(logits^T, diag) ) / 2,   CE = mean_i ( LSE_j logits_ij - logits_ii )
 *
 * Unlike ntxent there are no same-view negatives: every anchor is scored only against the other view.
 * Example: `createLoss('clip', { tau: 0.07 }).compute({ views: [z1, z2] })`.
 */
export function createClip({ tau }: ClipParams): LossModule {
  return {
    id: 'clip',
    trainableVariables: [],
    compute({ views }) {
      checkViews('clip', views, 2, 2);
      return tf.tidy(() => {
        const first = normalizeRows(views[0]);
        const second = normalizeRows(views[1]);
        const logits = tf.div(tf.matMul(first, second, false, true), tau) as tf.Tensor2D;
        const positiveLogits = tf.div(tf.sum(tf.mul(first, second), 1), tau);
        // Both cross-entropies share the diagonal, so their mean is mean(LSE rows + LSE columns) / 2 - mean(diagonal).
        const firstToSecond = tf.mean(lse(logits, 1));
        const secondToFirst = tf.mean(lse(logits, 0));
        return tf.sub(tf.div(tf.add(firstToSecond, secondToFirst), 2), tf.mean(positiveLogits)) as tf.Scalar;
      });
    },
    dispose() {},
  };
}
