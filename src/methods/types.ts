import type * as tf from '@tensorflow/tfjs';
import type { LossInputs, LossModule } from '../losses/types';
import type { Network } from '../nn/types';
import type { ViewGeometry } from '../nn/pixel_pairs';

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
  /** V x [N, h, w, F] the backbone's spatial maps of the views, from the method's own forwardViews (pixpro). */
  maps?: tf.Tensor4D[];
  /** V x N crop boxes and flips of the views (catalogue inputs 'geometry'), geometry[v][i] for image i. */
  geometry?: ViewGeometry[][];
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
  /** [H, W, C] of the dataset's images (cmim's decoder reconstructs them). */
  imageShape?: [number, number, number];
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
  /**
   * Runs the online network on the training views itself, in training mode, for methods that need more than h and
   * z (pixpro's spatial maps, passed to compute as inputs.maps); the trainer then skips its own forward pass.
   */
  forwardViews?(views: tf.Tensor4D[]): { h: tf.Tensor2D[]; z: tf.Tensor2D[]; maps: tf.Tensor4D[] };
  /**
   * A third representation of standardised images [N, H, W, C] whose network outputs (inference mode) are
   * `embedded`: cmim's informative embeddings. The evaluation computes h's and z's metrics for it too. The caller
   * owns the result.
   */
  representation?(images: tf.Tensor4D, embedded: { h: tf.Tensor2D; z: tf.Tensor2D }): tf.Tensor2D;
}
