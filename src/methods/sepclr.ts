import * as tf from '@tensorflow/tfjs';
import { sepclrLoss, type SepclrParams } from '../losses/sepclr';
import { checkViews } from '../losses/views';
import { Rng } from '../nn/random';
import type { Network } from '../nn/types';
import {
  checkEmbeddingViews,
  checkStateShapes,
  notBoundError,
  requireImages,
  restoreWeights,
  weightShapes,
  weightsState,
} from './target';
import type { MethodBinding, MethodModule } from './types';

export type { SepclrParams };

/** A sepclr MethodModule plus its salient encoder (the contrastive-analysis evaluation embeds with it). */
export interface SepclrModule extends MethodModule {
  /** The salient encoder f_s (backbone + projector of the run's architecture); null before bind(). */
  readonly salientNetwork: Network | null;
  bind(binding: MethodBinding): void;
  getState(): Record<string, tf.Tensor>;
  setState(state: Record<string, tf.Tensor>): void;
}

/**
 * SepCLR (Louiset et al. 2024, ICLR): the trained network is the common encoder f_c (its projections are the
 * views), this module owns the salient encoder f_s, a second network of the same architecture initialised from
 * its own seed (MethodBinding.buildNetwork), run in training mode on the same augmented images. The loss is
 * losses/sepclr.ts on (c1, c2) = the views and (s1, s2) = f_s's projections, with inputs.groups telling target rows
 * (1) from background rows (0). Needs bind(), inputs.images and inputs.groups (the contrastive-analysis protocol).
 */
export function createSepclr(params: SepclrParams): SepclrModule {
  let common: Network | null = null;
  let salient: Network | null = null;
  const release = () => {
    salient?.dispose();
    salient = null;
  };
  return {
    id: 'sepclr',
    get salientNetwork() {
      return salient;
    },
    get trainableVariables() {
      return salient ? salient.trainableVariables : [];
    },
    bind(binding: MethodBinding) {
      if (!binding.buildNetwork)
        throw new Error(
          "loss 'sepclr' builds its salient encoder with MethodBinding.buildNetwork(seed); the trainer passes it, pass it when binding the loss directly",
        );
      release();
      common = binding.network;
      salient = binding.buildNetwork(new Rng(binding.seed).fork());
    },
    compute(inputs) {
      checkViews('sepclr', inputs.views, 2, 2);
      if (!salient || !common) throw notBoundError('sepclr', 'compute');
      checkEmbeddingViews('sepclr', inputs.views, common.embeddingDim);
      const images = requireImages('sepclr', inputs, 2);
      const groups = inputs.groups;
      if (!groups || groups.shape[0] !== inputs.views[0].shape[0]) {
        throw new Error(
          `loss 'sepclr' needs inputs.groups (1 = target row, 0 = background row) for each of the ${inputs.views[0].shape[0]} rows, got ${groups ? `[${groups.shape}]` : 'none'}; train it with protocol.type 'contrastive-analysis'`,
        );
      }
      const encoder = salient;
      return tf.tidy(() => {
        const [s1, s2] = images.map((batch) => encoder.forward(batch, true).z);
        const parts = sepclrLoss(
          { c1: inputs.views[0], c2: inputs.views[1], s1, s2, target: groups },
          params,
        );
        return parts.total;
      });
    },
    getState() {
      if (!salient) throw notBoundError('sepclr', 'getState');
      // every weight of f_s, BatchNorm moving statistics included (the trainable ones are also the loss variables)
      return weightsState('salient', salient.allWeights);
    },
    setState(state) {
      if (!salient) throw notBoundError('sepclr', 'setState');
      checkStateShapes('sepclr', state, weightShapes('salient', salient.allWeights));
      restoreWeights('salient', salient.allWeights, state);
    },
    dispose() {
      release();
      common = null;
    },
  };
}
