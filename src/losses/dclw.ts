import * as tf from '@tensorflow/tfjs';
import { stopGradient } from '../nn/rows';
import { decoupledContrastiveLoss } from './dcl';
import type { LossModule } from './types';

export interface DclwParams extends Record<string, number> {
  tau: number;
  sigma: number;
}

/**
 * DCLW, weighted Decoupled Contrastive Learning (Yeh et al. 2022, ECCV). DCL with a von Mises-Fisher
 * weight on each positive (V = 2):
 *
 *   w_i = 2 - N * softmax_j( c_j / sigma )_i,   c_j = cos(views[0]_j, views[1]_j)
 *   l_i = -w_i * Z_i.Z_p(i) / tau + LSE_{k not in {i, p(i)}}( Z_i.Z_k / tau ),   L = mean over the 2N anchors
 *
 * w is a constant (no gradient flows through it) and averages to 1 over the batch: positives that
 * are already close get less pull. Example: `createLoss('dclw', { tau: 0.1, sigma: 0.5 })`.
 */
export function createDclw({ tau, sigma }: DclwParams): LossModule {
  const vmfWeights = (positiveCosines: tf.Tensor1D): tf.Tensor1D => {
    const N = positiveCosines.shape[0];
    return stopGradient(tf.sub(2, tf.mul(N, tf.softmax(tf.div(positiveCosines, sigma)))) as tf.Tensor1D);
  };
  return {
    id: 'dclw',
    trainableVariables: [],
    compute({ views }) {
      return decoupledContrastiveLoss('dclw', views, tau, vmfWeights);
    },
    dispose() {},
  };
}
