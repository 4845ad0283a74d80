import * as tf from '@tensorflow/tfjs';
import { batchNormTraining } from '../kernels/ops';

type LayerArgs = Parameters<typeof tf.layers.batchNormalization>[0];

/** The parts of tfjs-layers' BatchNormalization this subclass reads (protected or untyped there). */
interface BatchNormFields {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: tf.LayerVariable;
  beta: tf.LayerVariable;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

/** tfjs-layers' BatchNormalization class (not exported by name: taken from an instance). */
const BatchNormalizationBase = tf.layers.batchNormalization({ name: 'project_bn_prototype' })
  .constructor as new (args: LayerArgs) => tf.layers.Layer;

/**
 * tfjs-layers' BatchNormalization with its training-mode step as one op (batchNormTraining: same values, same
 * moving-average updates, a gradient in two passes instead of tfjs' chain through moments). Inference, other
 * axes and layers without center/scale run the stock layer. Same class name, weights and config, so saved models
 * load as plain BatchNormalization.
 */
class ProjectBatchNormalization extends BatchNormalizationBase {
  override call(
    inputs: tf.Tensor | tf.Tensor[],
    kwargs: tf.serialization.ConfigDict,
  ): tf.Tensor | tf.Tensor[] {
    const fields = this as unknown as BatchNormFields;
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const axis = fields.axis >= 0 ? fields.axis : fields.axis + x.rank;
    const training = kwargs['training'] === true;
    if (!training || axis !== x.rank - 1 || !fields.center || !fields.scale || x.rank < 2) {
      return super.call(inputs, kwargs);
    }
    return tf.tidy(() => {
      const { y, mean, variance } = batchNormTraining(
        x,
        fields.gamma.read(),
        fields.beta.read(),
        fields.epsilon,
      );
      // the moving averages, as tfjs-layers updates them: v ← v − (v − batch value)·(1 − momentum)
      const decay = 1 - fields.momentum;
      for (const [variable, value] of [
        [fields.movingMean, mean],
        [fields.movingVariance, variance],
      ] as const) {
        tf.tidy(() => {
          const current = variable.read();
          variable.write(tf.sub(current, tf.mul(tf.sub(current, value), decay)));
        });
      }
      tf.dispose([mean, variance]);
      return y;
    });
  }
}

/** A BatchNormalization layer (tf.layers.batchNormalization's arguments) with the project's training step. */
export function batchNormalization(args: LayerArgs): tf.layers.Layer {
  return new ProjectBatchNormalization(args);
}
