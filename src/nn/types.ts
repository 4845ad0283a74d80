import type * as tf from '@tensorflow/tfjs';

/** Backbone + projector, built from tf.layers so exports load with tf.loadLayersModel. */
export interface Network {
  /** image batch [N, H, W, C] float32 in [0, 1] -> backbone features h [N, F]. */
  readonly backbone: tf.LayersModel;
  /** h [N, F] -> projector output z [N, D]. */
  readonly projector: tf.LayersModel;
  readonly featureDim: number;
  readonly embeddingDim: number;
  /** Forward pass; training=true uses batch statistics in BatchNorm and updates its moving stats. */
  forward(images: tf.Tensor4D, training: boolean): { h: tf.Tensor2D; z: tf.Tensor2D };
  /**
   * The same forward pass, also returning the backbone's spatial map before global pooling, map [N, h, w, F]
   * (pixel-level objectives). Only encoders that end in global pooling (convnet, resnet) have one; others throw.
   */
  forwardSpatial(
    images: tf.Tensor4D,
    training: boolean,
  ): { map: tf.Tensor4D; h: tf.Tensor2D; z: tf.Tensor2D };
  /** Trainable variables of backbone and projector, in a stable order. */
  readonly trainableVariables: tf.Variable[];
  /** All weights (trainable + BN moving stats), in a stable order, with stable names. */
  readonly allWeights: tf.LayerVariable[];
  /** A new network with the same architecture and a copy of the current weights. */
  clone(): Network;
  /** Number of trainable scalars (backbone, projector). */
  parameterCount(): { backbone: number; projector: number; total: number };
  dispose(): void;
}

/** Which backbone to build; see mlp.ts, convnet.ts and resnet.ts for the exact layers. */
export type EncoderSpec =
  | { type: 'mlp'; hidden: number[] }
  | { type: 'convnet'; channels: number[] }
  | { type: 'resnet'; widths: number[]; blocks: number[] };
