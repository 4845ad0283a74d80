import * as tf from '@tensorflow/tfjs';
import { lse, normalizeRows } from '../nn/rows';
import { checkViews } from './views';
import type { LossModule } from './types';

export interface MnrParams extends Record<string, number> {
  scale: number;
}

/**
 * Multiple Negatives Ranking loss (Henderson et al. 2017, "Efficient Natural Language Response
 * Suggestion for Smart Reply"; the sentence-transformers MultipleNegativesRankingLoss).
 *
 *   logits = scale * norm(views[0]) norm(views[1])^T   (N x N), targets = the diagonal
 *   L = CE(logits, diag) = mean_i ( LSE_j logits_ij - logits_ii )
 *
 * One direction only: views[0] rows are the anchors, views[1] rows the candidates (so swapping
 * the views changes the value); scale = 1 / tau.
 * Example: `createLoss('mnr', { scale: 20 }).compute({ views: [anchors, positives] })`.
 */
export function createMnr({ scale }: MnrParams): LossModule {
  return {
    id: 'mnr',
    trainableVariables: [],
    compute({ views }) {
      checkViews('mnr', views, 2, 2);
      return tf.tidy(() => {
        const anchors = normalizeRows(views[0]);
        const candidates = normalizeRows(views[1]);
        const logits = tf.mul(tf.matMul(anchors, candidates, false, true), scale) as tf.Tensor2D;
        const positiveLogits = tf.mul(tf.sum(tf.mul(anchors, candidates), 1), scale);
        return tf.mean(tf.sub(lse(logits, 1), positiveLogits)) as tf.Scalar;
      });
    },
    dispose() {},
  };
}
