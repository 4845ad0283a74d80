import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';
import {
  convGeometryUniforms,
  convGeometryUniformsDeclaration,
  type GemmLaunch,
  GemmProgram,
  IMPLICIT_GEMM_UNIFORMS,
  implicitGemmLaunch,
  int32Uniforms,
  type ProgramUniforms,
  runProgram,
  unroll4,
} from '../webgpu/program';

/** Epilogues the fused kernel computes in place; other activations keep the stock kernel. */
type Activation = 'linear' | 'relu';

/**
 * Forward 2-D convolution (NHWC) as an implicit-im2col matrix product, with FusedConv2D's bias and ReLU applied
 * as the tile is stored:
 *
 *   y[(n, oy, ox), o] = act( Σ_{(i, j, c)} X[(n, oy, ox), (i, j, c)] · w[(i, j, c), o] + bias[o] ),
 *   X[(n, oy, ox), (i, j, c)] = x[n, oy·sH + i·dH - padTop, ox·sW + j·dW - padLeft, c]   (0 outside the image)
 *
 * a [N·OH·OW, FH·FW·C] x [FH·FW·C, O] product on the shared 64 x 64-tile GEMM (webgpu/program.ts), written straight
 * into y [N, OH, OW, O]. Input channels must be a multiple of 4 (4 consecutive depths are 4 channels of one
 * pixel). On SwiftShader (batch 32, W2's layers) it measured 2.2-2.5x the stock kernel (Conv2DMMProgram) with 64
 * and 128 channels, on par with 32, and 0.55x on the 3-channel stem, which therefore keeps the stock kernel.
 */
class Conv2DProgram extends GemmProgram {
  variableNames: string[];
  uniforms =
    IMPLICIT_GEMM_UNIFORMS +
    convGeometryUniformsDeclaration('inChannels') +
    ' dilationHeight : i32, dilationWidth : i32,';

  constructor(
    outShape: number[],
    private readonly hasBias: boolean,
    private readonly activation: Activation,
    launch: GemmLaunch,
  ) {
    super(outShape, launch, `projectConv2D_${hasBias}_${activation}`);
    this.variableNames = hasBias ? ['x', 'w', 'bias'] : ['x', 'w'];
  }

  getUserCode(): string {
    const helpers = `
      // offset of x[n, inY, inX, 0] for output pixel origin (inY0, inX0) and tap (tap = i · FW + j), or -1 outside
      fn xRowOffset(n : i32, inY0 : i32, inX0 : i32, tap : i32) -> i32 {
        let inY = inY0 + (tap / uniforms.filterWidth) * uniforms.dilationHeight;
        let inX = inX0 + (tap % uniforms.filterWidth) * uniforms.dilationWidth;
        if (inY < 0 || inY >= uniforms.inHeight || inX < 0 || inX >= uniforms.inWidth) {
          return -1;
        }
        return ((n * uniforms.inHeight + inY) * uniforms.inWidth + inX) * uniforms.inChannels;
      }`;
    // inChannels % 4 == 0: a thread's 4 consecutive depths (i, j, c..c+3) share one filter tap
    const loadA = `
        if (aValid && aDepth < depthEnd) {
          let offset = xRowOffset(aN, aInY0, aInX0, aDepth / uniforms.inChannels);
          if (offset >= 0) {
            let base = offset + aDepth % uniforms.inChannels;
            ${unroll4((e) => `a[${e}] = x[base + ${e}];`)}
          }
        }`;
    const biased = (value: string, col: string) => (this.hasBias ? `(${value} + bias[${col}])` : value);
    return this.gemmSource({
      helpers,
      // A is contiguous along the depth (c fastest); B = w[(i, j, c), o] is contiguous along o
      aOrder: 'depth-fastest',
      bOrder: 'outer-fastest',
      setup: `
        let aValid = aRow < uniforms.rows;
        let aOutX = aRow % uniforms.outWidth;
        let aOutY = (aRow / uniforms.outWidth) % uniforms.outHeight;
        let aN = aRow / (uniforms.outWidth * uniforms.outHeight);
        let aInY0 = aOutY * uniforms.strideHeight - uniforms.padTop;
        let aInX0 = aOutX * uniforms.strideWidth - uniforms.padLeft;
        let bValid = bCol < uniforms.cols;`,
      loadA,
      loadB: unroll4(
        (e) =>
          `if (bValid && bDepth + ${e} < depthEnd) { b[${e}] = w[(bDepth + ${e}) * uniforms.cols + bCol]; }`,
      ),
      // ReLU as tfjs computes it: NaN passes through
      store: (value, col) =>
        this.activation === 'relu'
          ? `select(${biased(value, col)}, 0.0, ${biased(value, col)} < 0.0)`
          : biased(value, col),
    });
  }
}

/** Conv2D and FusedConv2D attributes the kernel reads. */
type ConvAttrs = tf.Conv2DAttrs & { activation?: string };

/**
 * Conv2D / FusedConv2D for the tfjs 'webgpu' backend (see Conv2DProgram). Handles NHWC float32 with a multiple
 * of 4 input channels, no bias or a per-channel bias, linear or ReLU activation; returns null for the rest (NCHW,
 * PReLU/LeakyReLU/ELU/..., other bias shapes, 1-3 channel inputs), which the stock kernel then runs.
 */
export function conv2dWebGPU(args: KernelArgs): tf.TensorInfo | null {
  const { x, filter, bias, preluActivationWeights } = args.inputs as {
    x: tf.TensorInfo;
    filter: tf.TensorInfo;
    bias?: tf.TensorInfo;
    preluActivationWeights?: tf.TensorInfo;
  };
  const attrs = args.attrs as unknown as ConvAttrs;
  const activation = attrs.activation ?? 'linear';
  if (activation !== 'linear' && activation !== 'relu') return null;
  if (preluActivationWeights != null) return null;
  if (tf.backend_util.convertConv2DDataFormat(attrs.dataFormat) !== 'channelsLast') return null;
  if (x.dtype !== 'float32' || filter.dtype !== 'float32' || x.shape.length !== 4) return null;
  const [, , inChannels, outChannels] = filter.shape;
  // a few input channels (an RGB stem): the stock kernel measured faster (0.55x here on SwiftShader)
  if (inChannels % 4 !== 0) return null;
  if (bias != null && (bias.dtype !== 'float32' || bias.shape.reduce((a, b) => a * b, 1) !== outChannels)) {
    return null;
  }
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const rows = info.batchSize * info.outHeight * info.outWidth;
  const depth = info.filterHeight * info.filterWidth * info.inChannels;
  if (rows === 0 || outChannels === 0) return null;
  const launch = implicitGemmLaunch(rows, outChannels, depth, 1);
  const program = new Conv2DProgram(info.outShape, bias != null, activation, launch);
  const uniforms: ProgramUniforms = [
    ...launch.uniforms,
    ...convGeometryUniforms(info, 'inChannels'),
    ...int32Uniforms([info.dilationHeight, info.dilationWidth]),
  ];
  return runProgram(args.backend, program, bias != null ? [x, filter, bias] : [x, filter], uniforms);
}
