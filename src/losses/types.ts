import type * as tf from '@tensorflow/tfjs';
import type { Network } from '../nn/types';
import type { LossId } from './catalog';

export type { LossId };

export interface LossInputs {
  /** V x [N, D] raw projector outputs; losses normalise themselves. */
  views: tf.Tensor2D[];
  /** int32 class labels [N] (supervised / class-pair losses). */
  labels?: tf.Tensor1D;
  /** V x [N, F] backbone outputs, for methods with their own heads (amcl). */
  features?: tf.Tensor2D[];
  /**
   * V x [N, H, W, C] the augmented image batches the views came from. Methods with a
   * target network (moco, byol) run it on these. Provided by the trainer.
   */
  images?: tf.Tensor4D[];
}

/**
 * What the trainer hands a stateful method once, before the first step (the documented
 * extension of the LossModule interface in losses.md).
 */
export interface LossBinding {
  /** The online network (backbone + projector); moco/byol clone it for their target. */
  network: Network;
  /** Optimizer steps in the whole run (byol's EMA ramp uses it). */
  totalSteps: number;
  /** Optimizer steps per epoch (swav freezes prototypes for the first epoch). */
  stepsPerEpoch: number;
  /** Number of classes of the dataset (hydra's class embedding). */
  numClasses: number;
  /** Seed for the method's own random init. */
  seed: number;
}

/** Progress the trainer reports to afterStep (called after each optimizer step). */
export interface StepInfo {
  /** Number of optimizer steps completed so far (1 after the first step). */
  step: number;
  totalSteps: number;
}

export interface LossModule {
  readonly id: LossId;
  /** The loss value; differentiable with respect to the views and trainableVariables. No leaks. */
  compute(inputs: LossInputs): tf.Scalar;
  /** Variables the optimizer must update besides the network's ([] for stateless losses). */
  readonly trainableVariables: tf.Variable[];
  /** Called once by the trainer before the first step (stateful methods only). */
  bind?(binding: LossBinding): void;
  /** Queues, momentum/EMA updates, prototype renormalisation... after the optimizer step. */
  afterStep?(info: StepInfo): void;
  /**
   * Non-trainable state to checkpoint (queues, target networks), by stable name.
   * Restored with setState. Stateless losses omit both.
   */
  getState?(): Record<string, tf.Tensor>;
  setState?(state: Record<string, tf.Tensor>): void;
  dispose(): void;
}
