import * as tf from '@tensorflow/tfjs';
import { BackendOps, type KernelArgs } from '../backend_ops';

/**
 * Filter gradient of a 2-D convolution, computed with the backend's own Pad, Transpose, Conv2D and Slice kernels:
 *
 *   dW[i, j, c, o] = Σ_{n, y, x} xPad[n, y·sH + i, x·sW + j, c] · dy[n, y, x, o]
 *
 * which is itself a convolution: with X' = xPadᵀ [C, H', W', N] (batch and channels swapped) as the input and
 * F' = dyᵀ [OH, OW, N, O] as the filter, dilated by the forward stride, a 'valid' stride-1 conv gives
 * [C, FH, FW, O]; one more transpose gives [FH, FW, C, O]. The padded input is cropped to exactly
 * (OH - 1)·s + FH rows/cols so the conv yields exactly FH x FW outputs (the unused tail of 'same' padding drops).
 * Forward dilation must be 1 (tfjs passes none to this kernel). Works for NHWC and NCHW.
 */
export function conv2dBackpropFilterViaConv(args: KernelArgs, backendName: string): tf.TensorInfo {
  const ops = new BackendOps(args.backend, backendName, 'Conv2DBackpropFilter via conv');
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
    args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const convInfo = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(dataFormat),
  );
  const channelsLast = convInfo.dataFormat === 'channelsLast';
  const { strideHeight, strideWidth, filterHeight, filterWidth, outHeight, outWidth, padInfo } = convInfo;
  const neededHeight = (outHeight - 1) * strideHeight + filterHeight;
  const neededWidth = (outWidth - 1) * strideWidth + filterWidth;
  const padBottom = Math.max(0, neededHeight - convInfo.inHeight - padInfo.top);
  const padRight = Math.max(0, neededWidth - convInfo.inWidth - padInfo.left);

  try {
    let input = x;
    if (padInfo.top > 0 || padInfo.left > 0 || padBottom > 0 || padRight > 0) {
      const spatial: [number, number][] = [
        [padInfo.top, padBottom],
        [padInfo.left, padRight],
      ];
      const paddings = channelsLast ? [[0, 0], ...spatial, [0, 0]] : [[0, 0], [0, 0], ...spatial];
      input = ops.temp(tf.PadV2, { x: input }, { paddings, constantValue: 0 });
    }
    const [hAxis, wAxis] = channelsLast ? [1, 2] : [2, 3];
    if (input.shape[hAxis] > neededHeight || input.shape[wAxis] > neededWidth) {
      const size = [...input.shape];
      size[hAxis] = neededHeight;
      size[wAxis] = neededWidth;
      input = ops.temp(tf.Slice, { x: input }, { begin: [0, 0, 0, 0], size });
    }
    // [C, H', W', N]: the input channels become the batch, the batch becomes the channels summed over.
    const inputT = ops.temp(tf.Transpose, { x: input }, { perm: channelsLast ? [3, 1, 2, 0] : [1, 2, 3, 0] });
    // [OH, OW, N, O]: the output gradient becomes the filter.
    const dyT = ops.temp(tf.Transpose, { x: dy }, { perm: channelsLast ? [1, 2, 0, 3] : [2, 3, 0, 1] });
    const perChannel = ops.temp(
      tf.Conv2D,
      { x: inputT, filter: dyT },
      {
        strides: [1, 1],
        pad: 'valid',
        dataFormat: 'NHWC',
        dilations: [strideHeight, strideWidth],
        dimRoundingMode: undefined,
      },
    );
    return ops.run(tf.Transpose, { x: perChannel }, { perm: [1, 2, 0, 3] });
  } finally {
    ops.release();
  }
}
