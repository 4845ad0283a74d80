import * as tf from '@tensorflow/tfjs';
import { Rng } from '../nn/random';
import { stopGradient } from '../nn/rows';
import { checkViews } from '../losses/views';
import {
  buildPredictor,
  checkEmbeddingViews,
  checkStateShapes,
  meanRowCosine,
  modelVariables,
  notBoundError,
  predict,
  restoreWeights,
  weightShapes,
  weightsState,
} from './target';
import type { MethodBinding, MethodModule } from './types';

export interface SimsiamParams extends Record<string, number> {
  predHidden: number;
  /** 1 (default): the targets go through a stop-gradient; 0: the gradient flows into both branches. */
  stopGradient: number;
  /** 1 (default): the predictor MLP q; 0: no predictor, p = z (the identity). */
  predictor: number;
}

export function createSimsiam(params: SimsiamParams): MethodModule {
  const { predHidden } = params;
  const withStopGradient = params.stopGradient !== 0;
  const withPredictor = params.predictor !== 0;
  let predictor: tf.LayersModel | null = null;
  let bound = false;

  return {
    id: 'simsiam',
    get trainableVariables() {
      return predictor ? modelVariables(predictor) : [];
    },
    bind(binding: MethodBinding) {
      predictor?.dispose();
      predictor = withPredictor
        ? buildPredictor(
            binding.network.embeddingDim,
            predHidden,
            new Rng(binding.seed).fork(),
            'simsiam_predictor',
          )
        : null;
      bound = true;
    },
    compute(inputs) {
      checkViews('simsiam', inputs.views, 2, 2);
      if (!bound) throw notBoundError('simsiam', 'compute');
      if (predictor) checkEmbeddingViews('simsiam', inputs.views, predictor.inputs[0].shape[1] as number);
      const head = predictor;
      return tf.tidy(() => {
        const [z1, z2] = inputs.views;
        const p1 = head ? predict(head, z1) : z1;
        const p2 = head ? predict(head, z2) : z2;
        const targets = withStopGradient ? [z1, z2].map((z) => stopGradient(z) as tf.Tensor2D) : [z1, z2];
        return tf.div(tf.add(meanRowCosine(p1, targets[1]), meanRowCosine(p2, targets[0])), -2) as tf.Scalar;
      });
    },
    getState() {
      if (!bound) throw notBoundError('simsiam', 'getState');
      // The whole predictor (not only its BatchNorm statistics), so this state alone restores the method.
      return predictor ? weightsState('predictor', predictor.weights) : {};
    },
    setState(state) {
      if (!bound) throw notBoundError('simsiam', 'setState');
      const shapes = predictor ? weightShapes('predictor', predictor.weights) : [];
      checkStateShapes('simsiam', state, shapes);
      if (predictor) restoreWeights('predictor', predictor.weights, state);
    },
    dispose() {
      predictor?.dispose();
      predictor = null;
      bound = false;
    },
  };
}

/**
 * SimSiam, simple siamese learning with a stop-gradient (Chen & He 2021, "Exploring Simple Siamese
 * Representation Learning"). With z1, z2 = views[0], views[1] and predictor p = q(z):
 *
 *   L = -( mean_i s(p1_i, sg(z2_i)) + mean_i s(p2_i, sg(z1_i)) ) / 2,   s = cosine
 *
 * The predictor is Linear(D, predHidden) -> BN -> ReLU -> Linear(predHidden, D), created by bind() (which gives
 * D and the seed); its weights are this module's trainableVariables. L lies in [-1, 1].
 * The paper's two ablations are parameters: stopGradient = 0 drops sg (both branches get the gradient; the paper's
 * Fig. 2: the output collapses), predictor = 0 drops q (p = z; its Table 1: collapse too).
 * Example: `createLoss('simsiam', { predHidden: 512, stopGradient: 1, predictor: 1 })`.
 */
