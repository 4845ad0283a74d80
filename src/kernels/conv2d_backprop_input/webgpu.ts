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
  int32Uniforms,
  type ProgramUniforms,
  runProgram,
  unroll4,
} from '../webgpu/program';

/**
 * Input gradient of a 2-D convolution (NHWC, dilation 1, strides sH, sW) as implicit-GEMM matrix products:
 *
 *   dx[n, y, x, c] = Σ_{i, j, o} dy[n, (y + padTop - i) / sH, (x + padLeft - j) / sW, o] · w[i, j, c, o]
 *
 * where only taps with both divisions exact (and inside dy) contribute. Which taps those are depends only on
 * the stride phase (y mod sH, x mod sW) of the pixel, so the pixels are split into sH·sW phase classes and each
 * class is one dense product [pixels of the class, its taps · O] x [its taps · O, C], run as one dispatch
 * writing its pixels of dx ("sub-pixel" decomposition). A stride-2 3x3 conv thus costs 9 taps per 4 pixels,
 * not 36 of which 27 are zeros; stride 1 is a single class with every tap.
 *
 * The stock tfjs kernel (Conv2DDerInputProgram; tfjs' own matmul variant is off by default, flag
 * WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE) computes every dx element with its own loop over FH·FW·O, re-reading dy
 * and w from global memory, and visits every tap for every pixel.
 */
class Conv2DInputGradientProgram extends GemmProgram {
  variableNames = ['dy', 'w'];
  uniforms =
    IMPLICIT_GEMM_UNIFORMS +
    convGeometryUniformsDeclaration('outChannels') +
    // the phase class: its first pixel (phaseY, phaseX), first tap (firstTapY, firstTapX), tap counts and size
    ' phaseY : i32, phaseX : i32, firstTapY : i32, firstTapX : i32, tapsX : i32, classHeight : i32, classWidth : i32,';

  /** outChannels % 4 == 0: a thread's 4 consecutive depths (tap, o..o+3) share one filter tap. */
  private readonly tapAligned: boolean;

  constructor(inShape: number[], outChannels: number, launch: GemmLaunch) {
    super(inShape, launch, `projectConv2DInputGradient_${outChannels % 4 === 0}`);
    this.tapAligned = outChannels % 4 === 0;
  }

  getUserCode(): string {
    // Class tap k = (ti, tj) is filter tap (firstTapY + ti·sH, firstTapX + tj·sW); for a pixel of the class the
    // division by the stride is exact by construction, only the range of dy needs checking.
    const helpers = `
      fn filterRow(tap : i32) -> i32 {
        return uniforms.firstTapY + (tap / uniforms.tapsX) * uniforms.strideHeight;
      }
      fn filterColumn(tap : i32) -> i32 {
        return uniforms.firstTapX + (tap % uniforms.tapsX) * uniforms.strideWidth;
      }
      // offset of dy[n, outY, outX, 0] for pixel (n, y, x) and class tap \`tap\`, or -1 outside dy
      fn dyRowOffset(n : i32, y : i32, x : i32, tap : i32) -> i32 {
        let outY = (y + uniforms.padTop - filterRow(tap)) / uniforms.strideHeight;
        let outX = (x + uniforms.padLeft - filterColumn(tap)) / uniforms.strideWidth;
        if (y + uniforms.padTop < filterRow(tap) || x + uniforms.padLeft < filterColumn(tap) ||
            outY >= uniforms.outHeight || outX >= uniforms.outWidth) {
          return -1;
        }
        return ((n * uniforms.outHeight + outY) * uniforms.outWidth + outX) * uniforms.outChannels;
      }`;
    const loadA = this.tapAligned
      ? `
        if (aValid && aDepth < depthEnd) {
          let offset = dyRowOffset(aN, aY, aX, aDepth / uniforms.outChannels);
          if (offset >= 0) {
            let base = offset + aDepth % uniforms.outChannels;
            ${unroll4((e) => `a[${e}] = dy[base + ${e}];`)}
          }
        }`
      : unroll4(
          (e) => `
        if (aValid && aDepth + ${e} < depthEnd) {
          let offset${e} = dyRowOffset(aN, aY, aX, (aDepth + ${e}) / uniforms.outChannels);
          if (offset${e} >= 0) { a[${e}] = dy[offset${e} + (aDepth + ${e}) % uniforms.outChannels]; }
        }`,
        );
    return this.gemmSource({
      helpers,
      // A is contiguous along the depth (o fastest), and so is w[i, j, c, o] (B)
      aOrder: 'depth-fastest',
      bOrder: 'depth-fastest',
      // row r of the class = pixel (n, phaseY + sH·yc, phaseX + sW·xc) with r = (n · classHeight + yc) · classWidth + xc
      setup: `
        let aValid = aRow < uniforms.rows;
        let aX = uniforms.phaseX + (aRow % uniforms.classWidth) * uniforms.strideWidth;
        let aY = uniforms.phaseY + ((aRow / uniforms.classWidth) % uniforms.classHeight) * uniforms.strideHeight;
        let aN = aRow / (uniforms.classWidth * uniforms.classHeight);
        let bValid = bCol < uniforms.cols;`,
      loadA,
      // B[(tap, o), c] = w[filterRow(tap), filterColumn(tap), c, o]
      loadB: unroll4(
        (e) => `
        if (bValid && bDepth + ${e} < depthEnd) {
          let tap${e} = (bDepth + ${e}) / uniforms.outChannels;
          let filterTap${e} = filterRow(tap${e}) * uniforms.filterWidth + filterColumn(tap${e});
          b[${e}] = w[(filterTap${e} * uniforms.cols + bCol) * uniforms.outChannels + (bDepth + ${e}) % uniforms.outChannels];
        }`,
      ),
      rowOffset: `(((row / (uniforms.classWidth * uniforms.classHeight)) * uniforms.inHeight + uniforms.phaseY +
          ((row / uniforms.classWidth) % uniforms.classHeight) * uniforms.strideHeight) * uniforms.inWidth +
          uniforms.phaseX + (row % uniforms.classWidth) * uniforms.strideWidth) * uniforms.cols`,
    });
  }
}

/** True when conv2dBackpropInputWebGPU handles these attrs (NHWC); others go to the stock kernel. */
export function supportsInputGradient(attrs: tf.Conv2DBackpropInputAttrs): boolean {
  return isChannelsLast(attrs);
}

/**
 * One stride phase along an axis: the pixels p ≡ phase (mod stride) and the filter taps t with
 * (phase + pad - t) ≡ 0 (mod stride): t = firstTap, firstTap + stride, ... (`taps` of them, maybe 0).
 */
export function stridePhase(phase: number, stride: number, pad: number, filterSize: number, inSize: number) {
  const firstTap = (((phase + pad) % stride) + stride) % stride;
  return {
    firstTap,
    taps: firstTap < filterSize ? Math.ceil((filterSize - firstTap) / stride) : 0,
    pixels: phase < inSize ? Math.ceil((inSize - phase) / stride) : 0,
  };
}

/**
 * Conv2DBackpropInput for the tfjs 'webgpu' backend (NHWC; see Conv2DInputGradientProgram for the formula).
 * Returns dx with shape attrs.inputShape = [N, H, W, C]: one dispatch per stride phase class, each writing its
 * pixels (classes without taps write zeros).
 */
export function conv2dBackpropInputWebGPU(args: KernelArgs): tf.TensorInfo {
  const { backend } = args;
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const info = channelsLastConvInfo('conv2dBackpropInputWebGPU', attrs, attrs.inputShape, filter.shape);
  let output: tf.TensorInfo | undefined;
  for (let phaseY = 0; phaseY < info.strideHeight; phaseY++) {
    const rowsOfPhase = stridePhase(
      phaseY,
      info.strideHeight,
      info.padInfo.top,
      info.filterHeight,
      info.inHeight,
    );
    for (let phaseX = 0; phaseX < info.strideWidth; phaseX++) {
      const colsOfPhase = stridePhase(
        phaseX,
        info.strideWidth,
        info.padInfo.left,
        info.filterWidth,
        info.inWidth,
      );
      const rows = info.batchSize * rowsOfPhase.pixels * colsOfPhase.pixels;
      if (rows === 0) continue; // an image smaller than the stride: no pixel has this phase
      const depth = rowsOfPhase.taps * colsOfPhase.taps * info.outChannels;
      const launch = implicitGemmLaunch(rows, info.inChannels, depth, 1);
      const program = new Conv2DInputGradientProgram([...attrs.inputShape], info.outChannels, launch);
      const uniforms: ProgramUniforms = [
        ...launch.uniforms,
        ...convGeometryUniforms(info, 'outChannels'),
        ...int32Uniforms([
          phaseY,
          phaseX,
          rowsOfPhase.firstTap,
          colsOfPhase.firstTap,
          Math.max(1, colsOfPhase.taps), // a divisor in the shader; with no taps nothing is loaded anyway
          rowsOfPhase.pixels,
          colsOfPhase.pixels,
        ]),
      ];
      output = runProgram(backend, program, [dy, filter], uniforms, output);
    }
  }
  if (output === undefined)
    throw new Error(`conv2dBackpropInputWebGPU: empty input shape [${attrs.inputShape.join(', ')}]`);
  return output;
}
