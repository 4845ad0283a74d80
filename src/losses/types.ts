import type * as tf from '@tensorflow/tfjs';
import type { LossId } from './catalog';

export type { LossId };

export interface LossInputs {
  /** V x [N, D] raw projector outputs; losses normalise themselves. */
  views: tf.Tensor2D[];
  /** int32 class labels [N] (supervised / class-pair losses). */
  labels?: tf.Tensor1D;
  /** float32 regression targets [N] (supremix): the dataset's continuous target of each instance (dataset.target). */
  targets?: tf.Tensor1D;
}

/** A pure objective: the views (and labels) in, a differentiable scalar out (docs/losses.md). */
export interface LossModule {
  readonly id: LossId;
  /** The loss value; differentiable with respect to the views and trainableVariables. No leaks. */
  compute(inputs: LossInputs): tf.Scalar;
  /** Variables the optimizer must update besides the network's ([] for stateless losses). */
  readonly trainableVariables: tf.Variable[];
  dispose(): void;
}
