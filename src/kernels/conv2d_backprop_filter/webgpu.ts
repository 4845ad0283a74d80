import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';
import { channelsLastConvInfo, isChannelsLast } from '../conv_info';
import {
  convGeometryUniforms,
  convGeometryUniformsDeclaration,
  type GemmLaunch,
  GemmProgram,
  IMPLICIT_GEMM_UNIFORMS,
  implicitGemmLaunch,
  type ProgramUniforms,
  reshapeOnBackend,
  runProgram,
  splitKFor,
  SumSplitsProgram,
  unroll4,
} from '../webgpu/program';

/**
 * Filter gradient of a 2-D convolution (NHWC, dilation 1) as an implicit-im2col matrix product:
 *
 *   dW[(i, j, c), o] = Σ_{m = (n, y, x)} X[(i, j, c), m] · dY[m, o],
 *   X[(i, j, c), (n, y, x)] = x[n, y·sH + i - padTop, x·sW + j - padLeft, c]   (0 outside the image)
 *
 * i.e. a [FH·FW·C, N·OH·OW] x [N·OH·OW, O] product whose left operand (the im2col matrix, 9x the input
 * for a 3x3 filter) is gathered from x tile by tile instead of being written out. The reduction runs over
 * every output pixel of the batch (N·OH·OW ~ 10^5..10^6) while the output is small (FH·FW·C x O ~ 10^3..10^6),
 * so the reduction is split over workgroups (split-K) and a second pass sums the splits.
 *
 * The stock tfjs kernel (Conv2DDerFilterProgram) runs one thread per filter weight, each looping over all
 * N·OH·OW pixels with no reuse: a few thousand threads doing 10^5..10^6 serial steps each.
 */
class Conv2DFilterGradientProgram extends GemmProgram {
  variableNames = ['x', 'dy'];
  uniforms = IMPLICIT_GEMM_UNIFORMS + convGeometryUniformsDeclaration('inChannels');

  /** outWidth % 4 == 0: a thread's 4 consecutive output pixels lie in one row (same n and y). */
  private readonly rowAligned: boolean;

  constructor(rows: number, cols: number, outWidth: number, launch: GemmLaunch) {
    super([launch.splits, rows, cols], launch, `projectConv2DFilterGradient_${outWidth % 4 === 0}`);
    this.rowAligned = outWidth % 4 === 0;
  }

  getUserCode(): string {
    // A[(i, j, c), (n, y, x)] = x[n, y·sH + i - padTop, x·sW + j - padLeft, c], 0 outside the image
    const helpers = `
      fn xValue(n : i32, inY : i32, inX : i32, c : i32) -> f32 {
        if (inY < 0 || inY >= uniforms.inHeight || inX < 0 || inX >= uniforms.inWidth) {
          return 0.0;
        }
        return x[((n * uniforms.inHeight + inY) * uniforms.inWidth + inX) * uniforms.inChannels + c];
      }`;
    const loadA = this.rowAligned
      ? `
        if (aValid && aDepth < depthEnd) {
          let outX = aDepth % uniforms.outWidth;
          let outY = (aDepth / uniforms.outWidth) % uniforms.outHeight;
          let n = aDepth / (uniforms.outWidth * uniforms.outHeight);
          let inY = outY * uniforms.strideHeight + aI - uniforms.padTop;
          let inX = outX * uniforms.strideWidth + aJ - uniforms.padLeft;
          ${unroll4((e) => `a[${e}] = xValue(n, inY, inX + ${e} * uniforms.strideWidth, aC);`)}
        }`
      : unroll4(
          (e) => `
        if (aValid && aDepth + ${e} < depthEnd) {
          let depth${e} = aDepth + ${e};
          let outX${e} = depth${e} % uniforms.outWidth;
          let outY${e} = (depth${e} / uniforms.outWidth) % uniforms.outHeight;
          let n${e} = depth${e} / (uniforms.outWidth * uniforms.outHeight);
          a[${e}] = xValue(n${e}, outY${e} * uniforms.strideHeight + aI - uniforms.padTop, outX${e} * uniforms.strideWidth + aJ - uniforms.padLeft, aC);
        }`,
        );
    return this.gemmSource({
      helpers,
      // rows (i, j, c) are contiguous in x along c; dy is the row-major [N·OH·OW, O] matrix, contiguous along o
      aOrder: 'outer-fastest',
      bOrder: 'outer-fastest',
      setup: `
        let aValid = aRow < uniforms.rows;
        let aC = aRow % uniforms.inChannels;
        let aJ = (aRow / uniforms.inChannels) % uniforms.filterWidth;
        let aI = aRow / (uniforms.inChannels * uniforms.filterWidth);
        let bValid = bCol < uniforms.cols;`,
      loadA,
      loadB: unroll4(
        (e) =>
          `if (bValid && bDepth + ${e} < depthEnd) { b[${e}] = dy[(bDepth + ${e}) * uniforms.cols + bCol]; }`,
      ),
    });
  }
}

/** A split should keep at least this many output pixels, or the summing pass costs more than it saves. */
const MIN_DEPTH_PER_SPLIT = 1024;

/** How many ways to split the reduction over N·OH·OW pixels for a rows x cols output. */
export function filterGradientSplits(rows: number, cols: number, depth: number): number {
  return splitKFor(rows, cols, depth, MIN_DEPTH_PER_SPLIT);
}

/** True when conv2dBackpropFilterWebGPU handles these attrs (NHWC); others go to the stock kernel. */
export function supportsFilterGradient(attrs: tf.Conv2DBackpropFilterAttrs): boolean {
  return isChannelsLast(attrs);
}

/**
 * Conv2DBackpropFilter for the tfjs 'webgpu' backend (NHWC; see Conv2DFilterGradientProgram for the formula).
 * Returns dW with shape attrs.filterShape = [FH, FW, C, O].
 */
export function conv2dBackpropFilterWebGPU(args: KernelArgs): tf.TensorInfo {
  const { backend } = args;
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const info = channelsLastConvInfo('conv2dBackpropFilterWebGPU', attrs, x.shape, attrs.filterShape);
  const rows = info.filterHeight * info.filterWidth * info.inChannels;
  const cols = info.outChannels;
  const depth = info.batchSize * info.outHeight * info.outWidth;
  const launch = implicitGemmLaunch(rows, cols, depth, filterGradientSplits(rows, cols, depth));
  const program = new Conv2DFilterGradientProgram(rows, cols, info.outWidth, launch);
  const uniforms: ProgramUniforms = [...launch.uniforms, ...convGeometryUniforms(info, 'inChannels')];
  const partial = runProgram(backend, program, [x, dy], uniforms);
  try {
    if (launch.splits === 1) {
      // [1, rows, cols] has the memory layout of [FH, FW, C, O]; a reshape only relabels it
      return reshapeOnBackend(backend, partial, attrs.filterShape);
    }
    return runProgram(
      backend,
      new SumSplitsProgram([...attrs.filterShape]),
      [partial],
      [{ type: 'int32', data: [launch.splits] }],
    );
  } finally {
    backend.disposeData(partial.dataId);
  }
}
