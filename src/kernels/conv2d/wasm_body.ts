import { FunctionBuilder, L, V128 } from '../wasm/assembler';
import { CONV_TILE_PIXELS, i32Function, locals, TILE_OUT } from '../wasm/program';
import { WINOGRAD_PLANES, WinogradEmitter } from '../wasm/winograd';

// The WebAssembly bodies of Conv2D's SIMD kernels (the direct convolution, which the input gradient and
// BatchMatMul run too, and its Winograd F(2x2, 3x3) form); their JavaScript side is wasm.ts.

/**
 * The forward-convolution kernel, `conv(x, w, out, bias, nFrom, nTo, OH, OW, O, xImage, xRow, rowStep, colStep,
 * FH, rowTaps, relu, outImage, outRow, outPixel)`, all i32 (pointers and strides in bytes), on an input already
 * padded so that every tap of every output pixel is inside it (a 'valid' convolution). The output strides let
 * it write every s-th pixel of every s-th row (a phase of a strided input gradient); a plain NHWC output has
 * outPixel = 4·O, outRow = OW·outPixel, outImage = OH·outRow:
 *
 *   for each image n in [nFrom, nTo), each block of 8 output channels co, each output row oy,
 *   each block of 4 output pixels along the row (the last block shifted left to end at the row's end):
 *     acc[q] = bias[co..co+7] (zero when bias is 0)
 *     for each filter row kh, each k < rowTaps (= FW·C: the filter row's columns and input channels, which are
 *     contiguous both in an NHWC image row and in w [FH, FW, C, O]):
 *       acc[q] += x[n, oy·sH + kh, ox_q·sW + k / C, k % C] · w[kh, k / C, k % C, co..co+7]
 *     out[n, oy, ox_q, co..co+7] = relu ? max(acc[q], 0) : acc[q]
 *
 * The 4 x 8 accumulator stays in eight v128 registers (per k: two vector loads of w, four splat loads of x, eight
 * multiplies and eight adds). Needs O a multiple of 8 and OW >= 4; C (any) is folded into rowTaps.
 */
export function buildConvForwardFunction(): FunctionBuilder {
  const [f, params] = i32Function(
    'x w out bias nFrom nTo OH OW O xImage xRow rowStep colStep FH rowTaps relu outImage outRow outPixel',
  );
  const [x, w, out, bias, nFrom, nTo, OH, OW, O, xImage, xRow, rowStep, colStep, FH, rowTaps, relu] = params;
  const [outImage, outRow0, outPixel] = params.slice(16);
  const [n, co, oy, oxb, ox0, lastBlock, outBytes, rowBase, outRow, pix, kh, xp, wp, kEnd] = locals(f, 14);
  const [c1, c2, c3] = locals(f, 3);
  const acc = Array.from({ length: CONV_TILE_PIXELS * 2 }, () => f.local(V128));
  const [w0, w1, a, bias0, bias1, lowest] = Array.from({ length: 6 }, () => f.local(V128));

  f.get(O).i32(2).op('i32.shl').set(outBytes);
  f.get(OW).i32(CONV_TILE_PIXELS).op('i32.sub').set(lastBlock);
  f.get(colStep).tee(c1).get(colStep).op('i32.add').tee(c2).get(colStep).op('i32.add').set(c3);
  // the floor of the output: 0 for relu, -Infinity (no change; NaN stays NaN) for linear
  f.f32(0).f32(-Infinity).get(relu).op('select', 'f32x4.splat').set(lowest);
  const splatX = (q: number) => {
    f.get(xp);
    if (q > 0) f.get([c1, c2, c3][q - 1]).op('i32.add');
    f.load32Splat(0).set(a);
  };
  const tile = () => {
    // ox0 = min(oxb, OW - 4)
    f.get(lastBlock).get(oxb).get(oxb).get(lastBlock).op('i32.gt_s', 'select').set(ox0);
    f.get(rowBase).get(ox0).get(colStep).op('i32.mul', 'i32.add').set(pix);
    for (let q = 0; q < CONV_TILE_PIXELS; q++) {
      f.get(bias0).set(acc[2 * q]);
      f.get(bias1).set(acc[2 * q + 1]);
    }
    f.get(w).get(co).i32(2).op('i32.shl', 'i32.add').set(wp);
    f.forRange(kh, 0, L(FH), 1, () => {
      f.get(pix).get(kh).get(xRow).op('i32.mul', 'i32.add').tee(xp);
      f.get(rowTaps).i32(2).op('i32.shl', 'i32.add').set(kEnd);
      f.loop(() => {
        f.get(wp).v128Load(0).set(w0);
        f.get(wp).v128Load(16).set(w1);
        for (let q = 0; q < CONV_TILE_PIXELS; q++) {
          splatX(q);
          f.get(acc[2 * q])
            .get(a)
            .get(w0)
            .op('f32x4.mul', 'f32x4.add')
            .set(acc[2 * q]);
          f.get(acc[2 * q + 1])
            .get(a)
            .get(w1)
            .op('f32x4.mul', 'f32x4.add')
            .set(acc[2 * q + 1]);
        }
        f.get(wp).get(outBytes).op('i32.add').set(wp);
        f.get(xp).i32(4).op('i32.add').tee(xp).get(kEnd).op('i32.ne').brIf(0);
      });
    });
    // store: out row pointer at ox0, outPixel bytes apart
    f.get(outRow).get(ox0).get(outPixel).op('i32.mul', 'i32.add').set(xp);
    for (let q = 0; q < CONV_TILE_PIXELS; q++) {
      f.get(xp)
        .get(acc[2 * q])
        .get(lowest)
        .op('f32x4.max')
        .v128Store(0);
      f.get(xp)
        .get(acc[2 * q + 1])
        .get(lowest)
        .op('f32x4.max')
        .v128Store(16);
      if (q < CONV_TILE_PIXELS - 1) f.get(xp).get(outPixel).op('i32.add').set(xp);
    }
  };

  f.forRange(n, L(nFrom), L(nTo), 1, () => {
    f.forRange(co, 0, L(O), TILE_OUT, () => {
      f.get(bias).if(() => {
        f.get(bias).get(co).i32(2).op('i32.shl', 'i32.add').v128Load(0).set(bias0);
        f.get(bias).get(co).i32(2).op('i32.shl', 'i32.add').v128Load(16).set(bias1);
      });
      f.forRange(oy, 0, L(OH), 1, () => {
        f.get(x).get(n).get(xImage).op('i32.mul', 'i32.add').get(oy).get(rowStep).op('i32.mul', 'i32.add');
        f.set(rowBase);
        f.get(out)
          .get(n)
          .get(outImage)
          .op('i32.mul', 'i32.add')
          .get(oy)
          .get(outRow0)
          .op('i32.mul', 'i32.add');
        f.get(co).i32(2).op('i32.shl', 'i32.add').set(outRow);
        f.forRange(oxb, 0, L(OW), CONV_TILE_PIXELS, tile);
      });
    });
  });
  return f;
}

/**
 * The 3x3 stride-1 convolution in Winograd's F(2x2, 3x3) form (Lavin & Gray 2016, "Fast Algorithms for
 * Convolutional Neural Networks"), `winograd(x, u, out, v, m, nFrom, nTo, tilesH, tilesW, C, O, xImage, xRow,
 * outImage, outRow, blockRows, vPlane, mPlane)`, all i32 (pointers and strides in bytes), on an input padded for
 * a 'valid' convolution (rows 2·tilesH + 2, columns 2·tilesW + 2, C channels, a multiple of 4) and a filter
 * already transformed, u = G·g·Gᵀ as [16, C, O] (O a multiple of 8):
 *
 *   for each image n in [nFrom, nTo), each block of `blockRows` tile rows:
 *     V[ξ, t, c] = (Bᵀ·d_t·B)[ξ] for the 4x4 input patch d_t of every 2x2 output tile t
 *     M[ξ] = V[ξ] · u[ξ]                 (16 products [T, C]·[C, O], each a 1x1 call of `conv`, function convIndex)
 *     out[tile t] = Aᵀ·M[·, t]·A           (the 2x2 outputs)
 *
 * 16 multiply-adds per 4 outputs per (c, o) instead of 36; v and m are this call's scratch: 16 planes of
 * blockRows·tilesW tiles x C (O) floats, `vPlane` (`mPlane`) bytes apart, so that the transformed tiles stay in
 * cache between the three steps (planes a power of two apart would share cache sets: pad them).
 */
export function buildWinogradFunction(convIndex: number): FunctionBuilder {
  const [f, params] = i32Function(
    'x u out v m nFrom nTo tilesH tilesW C O xImage xRow outImage outRow blockRows vPlane mPlane',
  );
  const [x, u, out, v, m, nFrom, nTo, tilesH, tilesW, C, O, xImage, xRow, outImage, outRow, blockRows] =
    params;
  const [vPlane, mPlane] = params.slice(16);
  const [xi, cBytes, oBytes] = locals(f, 3);
  const w = new WinogradEmitter(f);
  f.get(C).i32(2).op('i32.shl').set(cBytes);
  f.get(O).i32(2).op('i32.shl').set(oBytes);
  w.blocks(nFrom, nTo, tilesH, tilesW, blockRows, () => {
    w.inputTransform(x, xImage, xRow, cBytes, tilesH, tilesW, v, vPlane);
    // M[ξ] = V[ξ]·u[ξ]: conv(x, w, out, bias, nFrom, nTo, OH, OW, O, xImage, xRow, rowStep, colStep, FH, rowTaps,
    // relu, outImage, outRow, outPixel) as one row of T pixels and a 1x1 filter
    f.forRange(xi, 0, WINOGRAD_PLANES, 1, () => {
      f.get(v).get(xi).get(vPlane).op('i32.mul', 'i32.add');
      f.get(u).get(xi).get(C).op('i32.mul').get(oBytes).op('i32.mul', 'i32.add');
      f.get(m).get(xi).get(mPlane).op('i32.mul', 'i32.add');
      f.i32(0).i32(0).i32(1).i32(1).get(w.T).get(O).i32(0).i32(0).i32(0).get(cBytes).i32(1).get(C).i32(0);
      f.i32(0).i32(0).get(oBytes);
      f.call(convIndex);
    });
    w.outputTransform(m, mPlane, oBytes, tilesH, tilesW, out, outImage, outRow);
  });
  return f;
}
