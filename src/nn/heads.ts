import * as tf from '@tensorflow/tfjs';
import { tfjsSeed } from './random';
import { batchNormalization } from './batchnorm';
import { layerInitializers, type InitScheme } from './init';

/** Shape of an MLP head: projector, predictor, gate network. */
export interface MlpHeadSpec {
  /** Number of Linear layers (>= 1). Hidden layers are Linear -> [BatchNorm] -> ReLU; the last is a plain Linear. */
  layers: number;
  /** Width of the hidden layers. */
  hidden: number;
  /** Output width. */
  out: number;
  /** BatchNorm after each hidden Linear (SimCLR / BYOL style). */
  batchNorm: boolean;
}

/**
 * An MLP head as a tf.LayersModel: [N, inDim] -> [N, out]. Layer names are `${name}_fc{k}` / `${name}_bn{k}`
 * so weights keep stable names across builds; init is seeded (seed + layer index): He-uniform kernels and zero
 * biases ('tfjs', the default) or PyTorch's nn.Linear default, U(+-1 / sqrt(fan_in)) for both ('torch').
 */
export function buildMlpHead(
  inDim: number,
  spec: MlpHeadSpec,
  seed: number,
  name: string,
  init: InitScheme = 'tfjs',
): tf.LayersModel {
  if (!Number.isInteger(spec.layers) || spec.layers < 1) {
    throw new Error(`${name}: layers must be an integer >= 1, got ${spec.layers}`);
  }
  const input = tf.input({ shape: [inDim], name: `${name}_in` });
  let x: tf.SymbolicTensor = input;
  for (let k = 0; k < spec.layers; k++) {
    const last = k === spec.layers - 1;
    const fanIn = k === 0 ? inDim : spec.hidden;
    x = tf.layers
      .dense({
        units: last ? spec.out : spec.hidden,
        useBias: last || !spec.batchNorm,
        ...layerInitializers(init, fanIn, seed + k, () =>
          tf.initializers.heUniform({ seed: tfjsSeed(seed + k) }),
        ),
        name: `${name}_fc${k}`,
      })
      .apply(x) as tf.SymbolicTensor;
    if (!last) {
      if (spec.batchNorm) {
        x = batchNormalization({ momentum: 0.9, epsilon: 1e-5, name: `${name}_bn${k}` }).apply(
          x,
        ) as tf.SymbolicTensor;
      }
      x = tf.layers.reLU({ name: `${name}_relu${k}` }).apply(x) as tf.SymbolicTensor;
    }
  }
  return tf.model({ inputs: input, outputs: x, name });
}

/** Copies every weight (trainable and BN moving statistics) from `source` into `target` (same architecture). */
export function copyWeights(source: tf.LayersModel, target: tf.LayersModel): void {
  const values = source.getWeights();
  target.setWeights(values);
}

/** Number of trainable scalars of a model. */
export function trainableCount(model: tf.LayersModel): number {
  return model.trainableWeights.reduce((sum, w) => sum + (w.shape as number[]).reduce((a, b) => a * b, 1), 0);
}
