import type * as tf from '@tensorflow/tfjs';
import type { LossInputs, LossModule } from '../losses/types';
import type { Network } from '../nn/types';

/** What a method sees each step: the loss inputs plus what its own networks need. */
export interface MethodInputs extends LossInputs {
  /** V x [N, F] backbone outputs, for methods with their own heads (amcl). */
  features?: tf.Tensor2D[];
  /**
   * V x [N, H, W, C] the augmented image batches the views came from. Methods with a
   * target network (moco, byol) run it on these. Provided by the trainer.
   */
  images?: tf.Tensor4D[];
  /** int32 [N]: 1 for a row of the target dataset, 0 for a background row (contrastive analysis; sepclr). */
  groups?: tf.Tensor1D;
}

/** What the trainer hands a stateful method once, before the first step. */
export interface MethodBinding {
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
  /** A fresh network of the run's architecture, initialised from `seed` (sepclr's salient encoder). */
  buildNetwork?: (seed: number) => Network;
}

/** Progress the trainer reports to afterStep (called after each optimizer step). */
export interface StepInfo {
  /** Number of optimizer steps completed so far (1 after the first step). */
  step: number;
  totalSteps: number;
}

/**
 * A stateful recipe that owns networks or buffers (queues, target networks, prototypes). Pure losses are
 * methods with none of the optional parts, so the trainer drives every objective through this interface.
 */
export interface MethodModule extends LossModule {
  compute(inputs: MethodInputs): tf.Scalar;
  /** Called once by the trainer before the first step. */
  bind?(binding: MethodBinding): void;
  /** Queues, momentum/EMA updates, prototype renormalisation... after the optimizer step. */
  afterStep?(info: StepInfo): void;
  /** Non-trainable state to checkpoint (queues, target networks), by stable name; restored with setState. */
  getState?(): Record<string, tf.Tensor>;
  setState?(state: Record<string, tf.Tensor>): void;
}
