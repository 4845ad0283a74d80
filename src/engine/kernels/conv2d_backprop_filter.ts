import * as tf from '@tensorflow/tfjs';

/** Runs another kernel of the same backend on TensorInfos, the way backend-wasm's own kernels reuse each other. */
function runBackendKernel(
  backend: tf.KernelBackend,
  backendName: string,
  kernelName: string,
  inputs: tf.NamedTensorInfoMap,
  attrs: Record<string, unknown>,
): tf.TensorInfo {
  const kernel = tf.getKernel(kernelName, backendName);
  if (kernel == null) {
    throw new Error(
      `Conv2DBackpropFilter via conv needs the '${kernelName}' kernel, which backend '${backendName}' lacks; ` +
        `do not register this kernel for that backend.`,
    );
  }
  const out = kernel.kernelFunc({ inputs, backend, attrs: attrs as tf.NamedAttrMap });
  return Array.isArray(out) ? out[0] : out;
}

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
export function conv2dBackpropFilterViaConv(
  args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap },
  backendName: string,
): tf.TensorInfo {
  const { backend } = args;
  const run = (kernelName: string, inputs: tf.NamedTensorInfoMap, attrs: Record<string, unknown>) =>
    runBackendKernel(backend, backendName, kernelName, inputs, attrs);
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

  const temporaries: tf.TensorInfo[] = [];
  const keep = (t: tf.TensorInfo): tf.TensorInfo => {
    temporaries.push(t);
    return t;
  };
  try {
    let input = x;
    if (padInfo.top > 0 || padInfo.left > 0 || padBottom > 0 || padRight > 0) {
      const spatial: [number, number][] = [
        [padInfo.top, padBottom],
        [padInfo.left, padRight],
      ];
      const paddings = channelsLast ? [[0, 0], ...spatial, [0, 0]] : [[0, 0], [0, 0], ...spatial];
      input = keep(run(tf.PadV2, { x: input }, { paddings, constantValue: 0 }));
    }
    const [hAxis, wAxis] = channelsLast ? [1, 2] : [2, 3];
    if (input.shape[hAxis] > neededHeight || input.shape[wAxis] > neededWidth) {
      const size = [...input.shape];
      size[hAxis] = neededHeight;
      size[wAxis] = neededWidth;
      input = keep(run(tf.Slice, { x: input }, { begin: [0, 0, 0, 0], size }));
    }
    // [C, H', W', N]: the input channels become the batch, the batch becomes the channels summed over.
    const inputT = keep(
      run(tf.Transpose, { x: input }, { perm: channelsLast ? [3, 1, 2, 0] : [1, 2, 3, 0] }),
    );
    // [OH, OW, N, O]: the output gradient becomes the filter.
    const dyT = keep(run(tf.Transpose, { x: dy }, { perm: channelsLast ? [1, 2, 0, 3] : [2, 3, 0, 1] }));
    const perChannel = keep(
      run(
        tf.Conv2D,
        { x: inputT, filter: dyT },
        {
          strides: [1, 1],
          pad: 'valid',
          dataFormat: 'NHWC',
          dilations: [strideHeight, strideWidth],
          dimRoundingMode: undefined,
        },
      ),
    );
    return run(tf.Transpose, { x: perChannel }, { perm: [1, 2, 0, 3] });
  } finally {
    for (const t of temporaries) backend.disposeData(t.dataId);
  }
}

/**
 * Backends whose Conv2DBackpropFilter is replaced by conv2dBackpropFilterViaConv. wasm has none at all (conv nets
 * cannot train there without it). cpu has one, but a slow nested loop: on x [64,32,32,32], dy [64,32,32,32], 3x3
 * 'same', stock cpu took 307 s and this one 16.4 s (Node 20, one shared core), so cpu gets it too.
 */
const BACKENDS_USING_CONV_FILTER_GRADIENT = new Set(['wasm', 'cpu']);

/** The kernel functions this module registered, so repeated calls neither warn nor stack registrations. */
const registeredByUs = new WeakSet<tf.KernelFunc>();

/**
 * Registers this project's kernels for `backendName` (call before or after the backend is set; idempotent).
 * wasm and cpu: Conv2DBackpropFilter computed as a convolution (see conv2dBackpropFilterViaConv); other
 * backends keep their own kernels.
 */
export function registerProjectKernels(backendName: string): void {
  if (!BACKENDS_USING_CONV_FILTER_GRADIENT.has(backendName)) return;
  const existing = tf.getKernel(tf.Conv2DBackpropFilter, backendName);
  if (existing != null && registeredByUs.has(existing.kernelFunc)) return;
  if (existing != null) tf.unregisterKernel(tf.Conv2DBackpropFilter, backendName);
  const kernelFunc = ((args: Parameters<typeof conv2dBackpropFilterViaConv>[0]) =>
    conv2dBackpropFilterViaConv(args, backendName)) as unknown as tf.KernelFunc;
  registeredByUs.add(kernelFunc);
  tf.registerKernel({ kernelName: tf.Conv2DBackpropFilter, backendName, kernelFunc });
}
