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
}

export function createSimsiam(params: SimsiamParams): MethodModule {
  const { predHidden } = params;
  let predictor: tf.LayersModel | null = null;

  return {
    id: 'simsiam',
    get trainableVariables() {
      return predictor ? modelVariables(predictor) : [];
    },
    bind(binding: MethodBinding) {
      predictor?.dispose();
      predictor = buildPredictor(
        binding.network.embeddingDim,
        predHidden,
        new Rng(binding.seed).fork(),
        'simsiam_predictor',
      );
    },
    compute(inputs) {
      checkViews('simsiam', inputs.views, 2, 2);
      if (!predictor) throw notBoundError('simsiam', 'compute');
      checkEmbeddingViews('simsiam', inputs.views, predictor.inputs[0].shape[1] as number);
      const head = predictor;
      return tf.tidy(() => {
        const [z1, z2] = inputs.views;
        const p1 = predict(head, z1);
        const p2 = predict(head, z2);
        const targets = [z1, z2].map((z) => stopGradient(z) as tf.Tensor2D);
        return tf.div(tf.add(meanRowCosine(p1, targets[1]), meanRowCosine(p2, targets[0])), -2) as tf.Scalar;
      });
    },
    getState() {
      if (!predictor) throw notBoundError('simsiam', 'getState');
      // The whole predictor (not only its BatchNorm statistics), so this state alone restores the method.
      return weightsState('predictor', predictor.weights);
    },
    setState(state) {
      if (!predictor) throw notBoundError('simsiam', 'setState');
      checkStateShapes('simsiam', state, weightShapes('predictor', predictor.weights));
      restoreWeights('predictor', predictor.weights, state);
    },
    dispose() {
      predictor?.dispose();
      predictor = null;
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
 * Example: `createLoss('simsiam', { predHidden: 512 })`.
 */
