import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';
import { copyPaddedSimd } from '../wasm/pad_copy';
import { TILE_IN, TILE_OUT } from '../wasm/program';
import { countSimdCall, splitTiles, type SimdModule, type WasmHeapBackend } from '../wasm/runtime';
import { Scratch } from '../wasm/scratch';
import { WINOGRAD_PLANES, winogradBlocks, winogradFits } from '../wasm/winograd';
import { simdModuleFor } from '../wasm_module';
import { TAP_FIELDS } from './wasm_body';

/** One filter tap's share of the work: where its valid output pixels start, and how many rows and columns. */
export interface TapRange {
  kh: number;
  kw: number;
  /** First output row/column whose input pixel is inside the image, and the counts from there. */
  oy0: number;
  ox0: number;
  rows: number;
  cols: number;
}

/** Output indices o in [0, outSize) with o * stride + k - pad in [0, inSize): [first, count]. */
export function validOutputRange(
  inSize: number,
  outSize: number,
  stride: number,
  k: number,
  pad: number,
): [number, number] {
  const first = Math.max(0, Math.ceil((pad - k) / stride));
  const last = Math.min(outSize - 1, Math.floor((inSize - 1 + pad - k) / stride));
  return last < first ? [first, 0] : [first, last - first + 1];
}

/** The taps with at least one valid output pixel, with their ranges. */
export function tapRanges(convInfo: tf.backend_util.Conv2DInfo): TapRange[] {
  const out: TapRange[] = [];
  const { inHeight, inWidth, outHeight, outWidth, strideHeight, strideWidth, padInfo } = convInfo;
  for (let kh = 0; kh < convInfo.filterHeight; kh++) {
    const [oy0, rows] = validOutputRange(inHeight, outHeight, strideHeight, kh, padInfo.top);
    if (rows === 0) continue;
    for (let kw = 0; kw < convInfo.filterWidth; kw++) {
      const [ox0, cols] = validOutputRange(inWidth, outWidth, strideWidth, kw, padInfo.left);
      if (cols > 0) out.push({ kh, kw, oy0, ox0, rows, cols });
    }
  }
  return out;
}

/** Rounds up to a multiple of `m`. */
function roundUp(value: number, m: number): number {
  return Math.ceil(value / m) * m;
}

/**
 * Copies [pixels, channels] float32 rows at byte offset `from` into [pixels, padded] rows at `to` (zeros in the
 * extra channels): how channel counts that are not multiples of the tile (the RGB stem's 3) reach the kernel.
 */
function padChannels(
  memory: WebAssembly.Memory,
  from: number,
  to: number,
  pixels: number,
  channels: number,
  padded: number,
): void {
  const source = new Float32Array(memory.buffer, from, pixels * channels);
  const target = new Float32Array(memory.buffer, to, pixels * padded);
  target.fill(0);
  for (let p = 0, i = 0, o = 0; p < pixels; p++, i += channels, o += padded) {
    for (let c = 0; c < channels; c++) target[o + c] = source[i + c];
  }
}

/**
 * Conv2DBackpropFilter on the wasm backend with the project's SIMD kernel, straight on the tensors in the wasm
 * heap (no transposes, no padded copy of the image, no packing). Channel counts that are not multiples of the
 * 4 x 8 tile are zero-padded up to it (a copy of x or dy, and of dW back). The work is split by channel tiles over
 * the module's threads. Returns null for what it does not handle (the caller falls back): NCHW, dilations,
 * non-float32, a backend whose memory is not reachable.
 */
export function conv2dBackpropFilterSimd(args: KernelArgs): tf.TensorInfo | null {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
    args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') return null;
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
  if (convInfo.dataFormat !== 'channelsLast') return null;
  const backend = args.backend as unknown as WasmHeapBackend;
  const simd = simdModuleFor(backend);
  if (simd == null) return null;

  const {
    batchSize,
    inHeight: H,
    inWidth: W,
    outHeight: OH,
    outWidth: OW,
    strideHeight,
    strideWidth,
  } = convInfo;
  const { inChannels, outChannels, filterHeight: FH, filterWidth: FW } = convInfo;
  if (winogradFits(FH, FW, strideHeight, strideWidth, OH, OW, inChannels, outChannels)) {
    return winogradFilterGradSimd(backend, simd, x, dy, convInfo, filterShape);
  }
  const C = roundUp(inChannels, TILE_IN);
  const O = roundUp(outChannels, TILE_OUT);
  const taps = tapRanges(convInfo);
  const out = backend.makeOutput(filterShape, 'float32');
  // scratch: the tap table, and the zero-padded copies where channels are not multiples of the tile
  const scratch = new Scratch(backend);
  const alloc = (bytes: number) => scratch.bytes(bytes);

  try {
    const table = alloc(Math.max(1, taps.length) * TAP_FIELDS * 4);
    let xAt = backend.dataIdMap.get(x.dataId)!.memoryOffset;
    let dyAt = backend.dataIdMap.get(dy.dataId)!.memoryOffset;
    let dwAt = backend.dataIdMap.get(out.dataId)!.memoryOffset;
    if (C !== inChannels) {
      const padded = alloc(batchSize * H * W * C * 4);
      padChannels(simd.memory, xAt, padded, batchSize * H * W, inChannels, C);
      xAt = padded;
    }
    if (O !== outChannels) {
      const padded = alloc(batchSize * OH * OW * O * 4);
      padChannels(simd.memory, dyAt, padded, batchSize * OH * OW, outChannels, O);
      dyAt = padded;
    }
    const paddedDw = C !== inChannels || O !== outChannels;
    if (paddedDw) dwAt = alloc(FH * FW * C * O * 4);
    // views after the allocations: a heap growth replaces the buffer
    const entries = new Int32Array(simd.memory.buffer, table, taps.length * TAP_FIELDS);
    taps.forEach((tap, i) => {
      const iy = tap.oy0 * strideHeight + tap.kh - convInfo.padInfo.top;
      const ix = tap.ox0 * strideWidth + tap.kw - convInfo.padInfo.left;
      entries.set(
        [
          (iy * W + ix) * C * 4,
          (tap.oy0 * OW + tap.ox0) * O * 4,
          tap.rows,
          tap.cols,
          (tap.kh * FW + tap.kw) * C * O * 4,
        ],
        i * TAP_FIELDS,
      );
    });
    new Float32Array(simd.memory.buffer, dwAt, FH * FW * C * O).fill(0);
    const common = [xAt, dyAt, dwAt, batchSize, taps.length, table, O, H * W * C * 4, OH * OW * O * 4];
    const strides4 = [strideWidth * C * 4, strideHeight * W * C * 4, OW * O * 4];
    // split the wider of the two channel axes over the threads (each share writes its own tiles of dW)
    const ciTiles = C / TILE_IN;
    const coTiles = O / TILE_OUT;
    const shares =
      coTiles >= ciTiles
        ? splitTiles(coTiles, simd.threads).map(([from, to]) => [0, C, from * TILE_OUT, to * TILE_OUT])
        : splitTiles(ciTiles, simd.threads).map(([from, to]) => [from * TILE_IN, to * TILE_IN, 0, O]);
    simd.run(
      'filterGrad',
      shares.map((ranges) => [...common, ...strides4, ...ranges]),
    );
    if (paddedDw) {
      const from = new Float32Array(simd.memory.buffer, dwAt, FH * FW * C * O);
      const to = new Float32Array(
        simd.memory.buffer,
        backend.dataIdMap.get(out.dataId)!.memoryOffset,
        FH * FW * inChannels * outChannels,
      );
      for (let row = 0; row < FH * FW * inChannels; row++) {
        const tap = Math.floor(row / inChannels);
        const ci = row % inChannels;
        to.set(from.subarray((tap * C + ci) * O, (tap * C + ci) * O + outChannels), row * outChannels);
      }
    }
  } catch (error) {
    (args.backend as tf.KernelBackend).disposeData(out.dataId);
    throw error;
  } finally {
    scratch.release();
  }
  countSimdCall('filterGrad');
  return out;
}

/** The filter gradient of a 3x3 stride-1 convolution in Winograd form (winogradFilterGradient), x padded first. */
function winogradFilterGradSimd(
  backend: WasmHeapBackend,
  simd: SimdModule,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  convInfo: tf.backend_util.Conv2DInfo,
  filterShape: [number, number, number, number],
): tf.TensorInfo {
  const {
    batchSize: N,
    inHeight: H,
    inWidth: W,
    inChannels: C,
    outChannels: O,
    outHeight: OH,
    outWidth: OW,
  } = convInfo;
  const { top, left } = convInfo.padInfo;
  const [Hp, Wp] = [OH + 2, OW + 2];
  const out = backend.makeOutput(filterShape, 'float32');
  const scratch = new Scratch(backend);
  try {
    const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
    let xAt = offset(x);
    let [rowBytes, imageBytes] = [W * C * 4, H * W * C * 4];
    if (top > 0 || left > 0 || Hp > H || Wp > W) {
      const padded = scratch.bytes(N * Hp * Wp * C * 4);
      copyPaddedSimd(simd, xAt, padded, { N, H, W, inChannels: C, Hp, Wp, C, top, left });
      [xAt, rowBytes, imageBytes] = [padded, Wp * C * 4, Hp * Wp * C * 4];
    }
    const geometry = { N, OH, OW, C, O, xAt, xImage: imageBytes, xRow: rowBytes, dyAt: offset(dy) };
    winogradFilterGradient(simd, scratch, geometry, offset(out));
  } catch (error) {
    (backend as unknown as tf.KernelBackend).disposeData(out.dataId);
    throw error;
  } finally {
    scratch.release();
  }
  countSimdCall('winogradFilterGrad');
  return out;
}

/** Where the filter gradient of a valid 3x3 stride-1 convolution reads (x padded: rows OH + 2; dy: [N, OH, OW, O]). */
export interface WinogradGradGeometry {
  N: number;
  OH: number;
  OW: number;
  C: number;
  O: number;
  xAt: number;
  xImage: number;
  xRow: number;
  dyAt: number;
}

/**
 * The filter gradient dW [3, 3, C, O] of a valid 3x3 stride-1 convolution (winogradFits) with the
 * `winogradFilterGrad` kernel: each thread sums its images' uhat[ξ] = Σ_t V[ξ]ᵀ·Ŷ[ξ] in its own [16, C, O]
 * scratch; here the threads' sums are added and dW = Gᵀ·uhat·G (in float64) is written to `dwAt`.
 */
export function winogradFilterGradient(
  simd: SimdModule,
  scratch: Scratch,
  g: WinogradGradGeometry,
  dwAt: number,
): void {
  const { tilesH, tilesW, blockRows, vPlane, outPlane: yPlane } = winogradBlocks(g);
  const CO = g.C * g.O;
  const uhats: number[] = [];
  const shares = splitTiles(g.N, simd.threads).map(([from, to]) => {
    const v = scratch.bytes(WINOGRAD_PLANES * vPlane);
    const yhat = scratch.bytes(WINOGRAD_PLANES * yPlane);
    const table = scratch.bytes(WINOGRAD_PLANES * TAP_FIELDS * 4);
    const uhat = scratch.floats(simd, WINOGRAD_PLANES * CO);
    uhats.push(uhat);
    const dyImage = g.OH * g.OW * g.O * 4;
    const geometry = [
      tilesH,
      tilesW,
      g.C,
      g.O,
      g.xImage,
      g.xRow,
      dyImage,
      g.OW * g.O * 4,
      blockRows,
      vPlane,
      yPlane,
    ];
    return [g.xAt, g.dyAt, uhat, v, yhat, table, from, to, ...geometry];
  });
  simd.run('winogradFilterGrad', shares);
  // views after every allocation (a heap growth replaces the buffer)
  const sums = uhats.map((at) => new Float32Array(simd.memory.buffer, at, WINOGRAD_PLANES * CO));
  const dw = new Float32Array(simd.memory.buffer, dwAt, 9 * CO);
  const u = new Float64Array(WINOGRAD_PLANES);
  // Gᵀ rows: [1, ½, ½, 0], [0, ½, −½, 0], [0, ½, ½, 1]
  const GT = [
    [1, 0.5, 0.5, 0],
    [0, 0.5, -0.5, 0],
    [0, 0.5, 0.5, 1],
  ];
  for (let k = 0; k < CO; k++) {
    for (let xi = 0; xi < WINOGRAD_PLANES; xi++) {
      let total = 0;
      for (const sum of sums) total += sum[xi * CO + k];
      u[xi] = total;
    }
    for (let i = 0; i < 3; i++) {
      // row i of Gᵀ·u (4 values), then · G along the columns
      const r0 = GT[i][0] * u[0] + GT[i][1] * u[4] + GT[i][2] * u[8] + GT[i][3] * u[12];
      const r1 = GT[i][0] * u[1] + GT[i][1] * u[5] + GT[i][2] * u[9] + GT[i][3] * u[13];
      const r2 = GT[i][0] * u[2] + GT[i][1] * u[6] + GT[i][2] * u[10] + GT[i][3] * u[14];
      const r3 = GT[i][0] * u[3] + GT[i][1] * u[7] + GT[i][2] * u[11] + GT[i][3] * u[15];
      dw[(i * 3 + 0) * CO + k] = r0 + 0.5 * (r1 + r2);
      dw[(i * 3 + 1) * CO + k] = 0.5 * (r1 - r2);
      dw[(i * 3 + 2) * CO + k] = 0.5 * (r1 + r2) + r3;
    }
  }
}
