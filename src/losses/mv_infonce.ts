import * as tf from '@tensorflow/tfjs';
import { identityMask, instanceGram, maskOut, stackUnitViews } from '../nn/rows';
import { checkViews, viewShape } from './views';
import type { LossModule } from './types';

export interface MvInfonceParams extends Record<string, number> {
  tau: number;
}

/**
 * MV-InfoNCE, multi-view InfoNCE (Koromilas et al. 2025, "Principled Multi-View Contrastive
 * Losses"; follows their reference code). With U_il = norm(views[l]_i) and S(a, b) = a.b / tau:
 *
 *   num_i = sum_{l != l'} exp S(U_il, U_il')                       (ordered pairs of i's views)
 *   den_i = sum_l sum_{(j, m) != (i, l)} exp S(U_il, U_jm)          (every other row, same view included)
 *   L = mean_i ( -log num_i + log den_i )
 *
 * All V views of an instance enter one term, instead of averaging V(V-1)/2 two-view losses. Computed
 * as log-sum-exps, never as raw exp sums. Example: `createLoss('mv_infonce').compute({ views: [z1, z2, z3] })`.
 */
export function createMvInfonce({ tau }: MvInfonceParams): LossModule {
  return {
    id: 'mv_infonce',
    trainableVariables: [],
    compute({ views }) {
      checkViews('mv_infonce', views, 2, Infinity);
      const { V, N, D } = viewShape('mv_infonce', views);
      return tf.tidy(() => {
        const units = stackUnitViews(views);
        const stacked = tf.reshape(units, [V * N, D]);
        const logits = maskOut(tf.div(tf.matMul(stacked, stacked, false, true), tau), identityMask(V * N));
        // log den_i = LSE over the views l of LSE over every other row, for anchor row (l, i).
        const logDenominator = tf.logSumExp(tf.reshape(tf.logSumExp(logits, 1), [V, N]), 0); // [N]
        // log num_i = LSE over the off-diagonal of i's V x V view-similarity matrix.
        const positiveLogits = maskOut(tf.div(instanceGram(units), tau), tf.eye(V)); // [N, V, V]
        const logNumerator = tf.logSumExp(positiveLogits, [1, 2]); // [N]
        return tf.mean(tf.sub(logDenominator, logNumerator)) as tf.Scalar;
      });
    },
    dispose() {},
  };
}
