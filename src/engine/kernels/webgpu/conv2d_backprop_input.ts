import * as tf from '@tensorflow/tfjs';
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { IMPLICIT_GEMM_UNIFORMS, implicitGemmLaunch, implicitGemmSource, runProgram, type ProgramUniforms } from './program';

/**
 * Input gradient of a 2-D convolution (NHWC, dilation 1) as an implicit-GEMM matrix product:
 *
 *   dx[(n, y, x), c] = Σ_{(i, j, o)} dY[(n, y, x), (i, j, o)] · W[(i, j, o), c],
 *   dY[(n, y, x), (i, j, o)] = dy[n, (y + padTop - i) / sH, (x + padLeft - j) / sW, o]
 *                               (0 unless both divisions are exact and land inside the output),
 *   W[(i, j, o), c] = w[i, j, c, o]
 *
 * a [N·H·W, FH·FW·O] x [FH·FW·O, C] product tiled through shared memory. The stock tfjs kernel
 * (Conv2DDerInputProgram; tfjs' own matmul variant is off by default, flag WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE)
 * computes every dx element with its own loop over FH·FW·O, re-reading dy and w from global memory.
 */
class Conv2DInputGradientProgram implements WebGPUProgram {
  variableNames = ['dy', 'w'];
  outputShape: number[];
  shaderKey = 'projectConv2DInputGradient';
  dispatchLayout = { x: [3], y: [0, 1, 2] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  uniforms =
    IMPLICIT_GEMM_UNIFORMS +
    ' outChannels : i32, filterWidth : i32, inHeight : i32, inWidth : i32, outHeight : i32, outWidth : i32,' +
    ' strideHeight : i32, strideWidth : i32, padTop : i32, padLeft : i32,';

  constructor(inShape: number[], dispatch: [number, number, number], workgroupSize: [number, number, number]) {
    this.outputShape = inShape;
    this.dispatch = dispatch;
    this.workgroupSize = workgroupSize;
  }

  getUserCode(): string {
    return implicitGemmSource({
      // row = input pixel (n, y, x), depth = (i, j, o) with o fastest
      loadA: `
      fn loadA(row : i32, depth : i32) -> f32 {
        let o = depth % uniforms.outChannels;
        let tap = depth / uniforms.outChannels;
        let j = tap % uniforms.filterWidth;
        let i = tap / uniforms.filterWidth;
        let inX = row % uniforms.inWidth;
        let rest = row / uniforms.inWidth;
        let inY = rest % uniforms.inHeight;
        let n = rest / uniforms.inHeight;
        let yStrided = inY + uniforms.padTop - i;
        let xStrided = inX + uniforms.padLeft - j;
        if (yStrided < 0 || xStrided < 0) {
          return 0.0;
        }
        let outY = yStrided / uniforms.strideHeight;
        let outX = xStrided / uniforms.strideWidth;
        if (outY * uniforms.strideHeight != yStrided || outX * uniforms.strideWidth != xStrided ||
            outY >= uniforms.outHeight || outX >= uniforms.outWidth) {
          return 0.0;
        }
        return dy[((n * uniforms.outHeight + outY) * uniforms.outWidth + outX) * uniforms.outChannels + o];
      }`,
      // w[i, j, c, o]: o is the fastest axis in memory, so the tile is loaded along the depth
      loadB: `
      fn loadB(depth : i32, col : i32) -> f32 {
        let o = depth % uniforms.outChannels;
        let tap = depth / uniforms.outChannels;
        return w[(tap * uniforms.cols + col) * uniforms.outChannels + o];
      }`,
      aOrder: 'depth-fastest',
      bOrder: 'depth-fastest',
    });
  }
}

/** True when conv2dBackpropInputWebGPU handles these attrs (NHWC); others go to the stock kernel. */
export function supportsInputGradient(attrs: tf.Conv2DBackpropInputAttrs): boolean {
  return tf.backend_util.convertConv2DDataFormat(attrs.dataFormat) === 'channelsLast';
}

/**
 * Conv2DBackpropInput for the tfjs 'webgpu' backend (NHWC; see Conv2DInputGradientProgram for the formula).
 * Returns dx with shape attrs.inputShape = [N, H, W, C].
 */
export function conv2dBackpropInputWebGPU(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const { backend } = args;
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  if (!supportsInputGradient(attrs)) {
    throw new Error(`conv2dBackpropInputWebGPU handles NHWC only, got dataFormat '${attrs.dataFormat}'; use the stock kernel for NCHW`);
  }
  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const rows = info.batchSize * info.inHeight * info.inWidth;
  const cols = info.inChannels;
  const depth = info.filterHeight * info.filterWidth * info.outChannels;
  const launch = implicitGemmLaunch(rows, cols, depth, 1);
  const program = new Conv2DInputGradientProgram([...attrs.inputShape], launch.dispatch, launch.workgroupSize);
  const uniforms: ProgramUniforms = [
    ...launch.uniforms,
    ...[
      info.outChannels,
      info.filterWidth,
      info.inHeight,
      info.inWidth,
      info.outHeight,
      info.outWidth,
      info.strideHeight,
      info.strideWidth,
      info.padInfo.top,
      info.padInfo.left,
    ].map((value) => ({ type: 'int32' as const, data: [value] })),
  ];
  return runProgram(backend, program, [dy, filter], uniforms);
}
