import * as tf from '@tensorflow/tfjs';
import { identityMask, instanceGram, maskFrom, maskOut, stackUnitViews } from '../nn/rows';
import { checkViews, viewShape } from './views';
import type { LossModule } from './types';

export interface MvDhelParams extends Record<string, number> {
  tau: number;
}

/**
 * MV-DHEL, multi-view Decoupled Hyperspherical Energy Loss (Koromilas et al. 2025, "Principled
 * Multi-View Contrastive Losses"; follows their reference code). With U_il = norm(views[l]_i) and
 * S(a, b) = a.b / tau:
 *
 *   pos_i  = LSE_{l < l'} S(U_il, U_il')                       (unordered pairs of i's views)
 *   unif_i = sum_l LSE_{j != i} S(U_il, U_jl)                   (same-view negatives only)
 *   L = mean_i ( -pos_i + unif_i )
 *
 * Alignment and uniformity are decoupled: positives never appear in the uniformity term. Needs
 * N >= 2. Example: `createLoss('mv_dhel', { tau: 0.5 }).compute({ views: [z1, z2, z3] })`.
 */
export function createMvDhel({ tau }: MvDhelParams): LossModule {
  return {
    id: 'mv_dhel',
    trainableVariables: [],
    compute({ views }) {
      checkViews('mv_dhel', views, 2, Infinity);
      // With N = 1 the uniformity LSE would be over an empty set.
      const { V, N } = viewShape('mv_dhel', views, 2);
      return tf.tidy(() => {
        const units = stackUnitViews(views);
        const notUpperPair = maskFrom(V, V, (l, m) => l >= m);
        const alignment = tf.logSumExp(maskOut(tf.div(instanceGram(units), tau), notUpperPair), [1, 2]); // [N]
        // One N x N similarity matrix per view: negatives never cross views.
        const sameViewLogits = maskOut(tf.div(tf.matMul(units, units, false, true), tau), identityMask(N)); // [V, N, N]
        const uniformity = tf.sum(tf.logSumExp(sameViewLogits, 2), 0); // [N]
        return tf.mean(tf.sub(uniformity, alignment)) as tf.Scalar;
      });
    },
    dispose() {},
  };
}
