import * as tf from '@tensorflow/tfjs';
import type { Network } from '../nn/types';
import { Rng } from '../nn/random';
import { stopGradient } from '../nn/rows';
import { checkViews } from '../losses/views';
import {
  buildPredictor,
  checkEmbeddingViews,
  checkStateShapes,
  cloneTarget,
  meanRowCosine,
  modelVariables,
  momentumUpdate,
  notBoundError,
  predict,
  requireImages,
  restoreWeights,
  weightShapes,
  weightsState,
  type TargetPairs,
} from './target';
import type { MethodBinding, MethodModule, StepInfo } from './types';

export interface ByolParams extends Record<string, number> {
  baseEma: number;
  predHidden: number;
}

/**
 * BYOL's target decay after optimizer step k of K: tau_k = 1 - (1 - baseEma) * (cos(pi k / K) + 1) / 2,
 * rising from baseEma (k = 0) to 1 (k = K). k / K is clamped to [0, 1].
 */
export function byolTargetDecay(step: number, totalSteps: number, baseEma: number): number {
  const progress = Math.min(Math.max(step / Math.max(totalSteps, 1), 0), 1);
  return 1 - ((1 - baseEma) * (Math.cos(Math.PI * progress) + 1)) / 2;
}

/** What bind() creates. */
interface ByolState {
  online: Network;
  target: Network;
  pairs: TargetPairs;
  predictor: tf.LayersModel;
}

export function createByol(params: ByolParams): MethodModule {
  const { baseEma, predHidden } = params;
  let bound: ByolState | null = null;

  const release = (): void => {
    if (bound) {
      bound.target.dispose();
      bound.predictor.dispose();
    }
    bound = null;
  };
  const stateShapes = (state: ByolState): [string, number[]][] => [
    ...weightShapes('target', state.target.allWeights),
    ...weightShapes('predictor', state.predictor.weights),
  ];

  return {
    id: 'byol',
    get trainableVariables() {
      return bound ? modelVariables(bound.predictor) : [];
    },
    bind(binding: MethodBinding) {
      release();
      const { target, pairs } = cloneTarget('byol', binding.network);
      const predictorSeed = new Rng(binding.seed).fork();
      const predictor = buildPredictor(
        binding.network.embeddingDim,
        predHidden,
        predictorSeed,
        'byol_predictor',
      );
      bound = { online: binding.network, target, pairs, predictor };
    },
    compute(inputs) {
      checkViews('byol', inputs.views, 2, 2);
      if (!bound) throw notBoundError('byol', 'compute');
      checkEmbeddingViews('byol', inputs.views, bound.online.embeddingDim);
      const images = requireImages('byol', inputs, 2);
      const { target, predictor } = bound;
      return tf.tidy(() => {
        const [z1, z2] = inputs.views;
        const p1 = predict(predictor, z1);
        const p2 = predict(predictor, z2);
        // Training mode as in the reference code (target BatchNorm uses batch statistics).
        const [t1, t2] = images.map((batch) => stopGradient(target.forward(batch, true).z) as tf.Tensor2D);
        // mean_i (2 - 2 s(p1_i, t2_i)) + (2 - 2 s(p2_i, t1_i)) = 4 - 2 mean s(p1, t2) - 2 mean s(p2, t1)
        return tf.sub(4, tf.mul(2, tf.add(meanRowCosine(p1, t2), meanRowCosine(p2, t1)))) as tf.Scalar;
      });
    },
    afterStep(info: StepInfo) {
      if (!bound) throw notBoundError('byol', 'afterStep');
      momentumUpdate(bound.pairs, byolTargetDecay(info.step, info.totalSteps, baseEma));
    },
    getState() {
      if (!bound) throw notBoundError('byol', 'getState');
      // The whole predictor (not only its BatchNorm statistics), so this state alone restores the method.
      return {
        ...weightsState('target', bound.target.allWeights),
        ...weightsState('predictor', bound.predictor.weights),
      };
    },
    setState(state) {
      if (!bound) throw notBoundError('byol', 'setState');
      checkStateShapes('byol', state, stateShapes(bound));
      restoreWeights('target', bound.target.allWeights, state);
      restoreWeights('predictor', bound.predictor.weights, state);
    },
    dispose() {
      release();
    },
  };
}

/**
 * BYOL, bootstrap your own latent (Grill et al. 2020, "Bootstrap Your Own Latent: A New Approach to
 * Self-Supervised Learning"). Online projections z1, z2 (views[0], views[1]), predictor q, EMA target f_t:
 *
 *   z'_v = sg(f_t(images[v]));  L = mean_i [ (2 - 2 s(q(z1)_i, z'_2i)) + (2 - 2 s(q(z2)_i, z'_1i)) ]
 *
 * After each optimizer step k of K: theta_t <- tau_k theta_t + (1 - tau_k) theta_online with
 * tau_k = 1 - (1 - baseEma) (cos(pi k / K) + 1) / 2. The predictor is Linear(D, predHidden) -> BN -> ReLU ->
 * Linear(predHidden, D); its weights are this module's trainableVariables (after bind). Needs bind() and
 * inputs.images. Example: `createLoss('byol', { baseEma: 0.996 })`.
 */
