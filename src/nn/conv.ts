import * as tf from '@tensorflow/tfjs';

type LayerArgs = Parameters<typeof tf.layers.conv2d>[0];

/** The parts of tfjs-layers' Conv2D this subclass reads (protected there). */
interface ConvFields {
  rank: number;
  kernel: tf.LayerVariable;
  bias: tf.LayerVariable | null;
  strides: [number, number];
  padding: 'valid' | 'same' | 'causal';
  dataFormat: 'channelsFirst' | 'channelsLast';
  dilationRate: number | [number, number];
  activation: { getClassName(): string } | null;
}

/** tfjs-layers' Conv2D class (not exported by name: taken from an instance). */
const Conv2DBase = tf.layers.conv2d({ filters: 1, kernelSize: 1, name: 'project_conv_prototype' })
  .constructor as new (args: LayerArgs) => tf.layers.Layer;

/**
 * tfjs-layers' Conv2D, but a bias-free linear NHWC convolution (every conv of the encoders: BatchNorm follows) runs
 * as tf.conv2d instead of tf.fused.conv2d. Same values; the difference is the gradient: the fused op's computes
 * the input gradient and the filter gradient together, always, so the first layer paid for a gradient of the
 * images that nothing reads (a full transposed convolution a step: 12-16 ms of a 2-thread W2 step on wasm);
 * tf.conv2d's gradient runs each only where the tape needs it, and saves x and the filter, not the output.
 */
class ProjectConv2D extends Conv2DBase {
  override call(
    inputs: tf.Tensor | tf.Tensor[],
    kwargs: tf.serialization.ConfigDict,
  ): tf.Tensor | tf.Tensor[] {
    const fields = this as unknown as ConvFields;
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const linear = fields.activation == null || fields.activation.getClassName() === 'linear';
    if (
      fields.rank !== 2 ||
      fields.bias != null ||
      !linear ||
      fields.dataFormat !== 'channelsLast' ||
      fields.padding === 'causal' ||
      x.rank !== 4
    ) {
      return super.call(inputs, kwargs);
    }
    return tf.conv2d(
      x as tf.Tensor4D,
      fields.kernel.read() as tf.Tensor4D,
      fields.strides,
      fields.padding,
      'NHWC',
      fields.dilationRate,
    );
  }
}

/** A Conv2D layer (tf.layers.conv2d's arguments) whose gradient skips what the tape does not need. */
export function conv2d(args: LayerArgs): tf.layers.Layer {
  return new ProjectConv2D(args);
}
