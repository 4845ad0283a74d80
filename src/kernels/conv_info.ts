import * as tf from '@tensorflow/tfjs';

/** The attributes both convolution-gradient kernels carry (Conv2DBackpropFilter and Conv2DBackpropInput). */
type ConvGradientAttrs = Pick<
  tf.Conv2DBackpropFilterAttrs,
  'strides' | 'pad' | 'dataFormat' | 'dimRoundingMode'
>;

/** Whether a convolution-gradient kernel call is NHWC, the layout the project's conv-gradient kernels handle. */
export function isChannelsLast(attrs: ConvGradientAttrs): boolean {
  return tf.backend_util.convertConv2DDataFormat(attrs.dataFormat) === 'channelsLast';
}

/**
 * The forward convolution's geometry (dilation 1: tfjs passes none to the gradient kernels) for a gradient kernel
 * that handles NHWC only; throws, naming `kernel`, for NCHW (callers check isChannelsLast and use the stock
 * kernel there).
 */
export function channelsLastConvInfo(
  kernel: string,
  attrs: ConvGradientAttrs,
  inputShape: readonly number[],
  filterShape: readonly number[],
): tf.backend_util.Conv2DInfo {
  if (!isChannelsLast(attrs)) {
    throw new Error(
      `${kernel} handles NHWC only, got dataFormat '${attrs.dataFormat}'; use the stock kernel for NCHW`,
    );
  }
  return tf.backend_util.computeConv2DInfo(
    inputShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
}
