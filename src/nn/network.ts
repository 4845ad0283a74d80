import * as tf from '@tensorflow/tfjs';
import type { Network } from './types';
import { trainableCount } from './heads';
import { spatialBackbone } from './spatial';

/**
 * Wraps a backbone and a projector as a Network. `build` makes a fresh pair of the same architecture
 * (used by clone(), e.g. for MoCo's key encoder or BYOL's target).
 */
export function createNetwork(build: () => { backbone: tf.LayersModel; projector: tf.LayersModel }): Network {
  const { backbone, projector } = build();
  const featureDim = backbone.outputs[0].shape[1] as number;
  const embeddingDim = projector.outputs[0].shape[1] as number;
  // built on first use; it shares the backbone's layers, so it is never disposed on its own
  let spatial: tf.LayersModel | null = null;
  return {
    backbone,
    projector,
    featureDim,
    embeddingDim,
    forward(images, training) {
      return tf.tidy(() => {
        const h = backbone.apply(images, { training }) as tf.Tensor2D;
        const z = projector.apply(h, { training }) as tf.Tensor2D;
        return { h, z };
      });
    },
    forwardSpatial(images, training) {
      spatial ??= spatialBackbone(backbone);
      const model = spatial;
      return tf.tidy(() => {
        const [map, h] = model.apply(images, { training }) as [tf.Tensor4D, tf.Tensor2D];
        const z = projector.apply(h, { training }) as tf.Tensor2D;
        return { map, h, z };
      });
    },
    get trainableVariables() {
      return [...backbone.trainableWeights, ...projector.trainableWeights].map(
        (w) => w.read() as tf.Variable,
      );
    },
    get allWeights() {
      return [...backbone.weights, ...projector.weights];
    },
    clone() {
      const copy = createNetwork(build);
      copy.backbone.setWeights(backbone.getWeights());
      copy.projector.setWeights(projector.getWeights());
      return copy;
    },
    parameterCount() {
      const b = trainableCount(backbone);
      const p = trainableCount(projector);
      return { backbone: b, projector: p, total: b + p };
    },
    dispose() {
      backbone.dispose();
      projector.dispose();
    },
  };
}
