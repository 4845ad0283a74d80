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
  /**
   * The training-set index of every batch row [N]: methods with per-image state look it up (mcl's cluster ids).
   * Provided by the trainer.
   */
  indices?: Int32Array;
  /**
   * The 0-based optimizer step this batch trains. Methods that draw random numbers (mixing coefficients) seed
   * them from (their bound seed, step), so a resumed run draws what the uninterrupted one drew.
   */
  step?: number;
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
  /** Number of training images the run draws batches from (methods with per-image state size it by this). */
  trainCount?: number;
}

/**
 * What the trainer hands atStepBoundary: the run's progress and the operations a method may need between two
 * optimizer steps (re-clustering the training set, restarting the optimizer after re-initialising the network).
 */
export interface StepBoundaryContext {
  /** Optimizer steps completed so far (0 before the first). */
  step: number;
  totalSteps: number;
  /**
   * The clean backbone features h [trainCount, F] of the training images 0..trainCount-1 (standardised as in
   * training, no augmentation, inference mode) from the network as it is now; the caller disposes the tensor.
   */
  embedTrain(): Promise<tf.Tensor2D>;
  /** Zeroes the optimizer's slots and step count (after a method has re-initialised the network's weights). */
  resetOptimizer(): void;
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
  /**
   * Runs before every optimizer step (and so between two steps), awaited by the trainer: multi-stage methods
   * change stage here (mcl clusters the training set). Must be idempotent for a given step and state, because a
   * run resumed from a checkpoint calls it again at the checkpoint's step.
   */
  atStepBoundary?(ctx: StepBoundaryContext): Promise<void>;
  /**
   * The representation evaluated and exported as h, from the network's h [N, F] of the standardised images
   * [N, H, W, C] (mcl: the concatenation of every stage's features). Without it, h is the network's h.
   */
  evalFeatures?(h: tf.Tensor2D, images: tf.Tensor4D): tf.Tensor2D;
  /** The training stage now (1-based) of a method that trains in stages; reported on step and eval events. */
  stage?(): number;
}
