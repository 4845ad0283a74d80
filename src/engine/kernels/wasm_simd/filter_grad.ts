import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';
import { TAP_FIELDS, TILE_IN, TILE_OUT } from './programs';
import { countSimdCall, simdModuleFor, type WasmHeapBackend } from './runtime';

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

/**
 * Conv2DBackpropFilter on the wasm backend with the project's SIMD kernel, straight on the tensors in the wasm
 * heap (no transposes, no padded copy, no packing). Returns null for what it does not handle (the caller falls
 * back): NCHW, dilations, channel counts that are not multiples of the tile (the RGB stem), a backend whose
 * memory is not reachable.
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
  const { inChannels: C, outChannels: O } = convInfo;
  if (convInfo.dataFormat !== 'channelsLast' || C % TILE_IN !== 0 || O % TILE_OUT !== 0) return null;
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
  const taps = tapRanges(convInfo);
  const out = backend.makeOutput(filterShape, 'float32');
  const tableBytes = Math.max(1, taps.length) * TAP_FIELDS * 4;
  const table = backend.wasm._malloc(tableBytes);
  try {
    const heap = new Int32Array(simd.memory.buffer, table, taps.length * TAP_FIELDS);
    taps.forEach((tap, i) => {
      const iy = tap.oy0 * strideHeight + tap.kh - convInfo.padInfo.top;
      const ix = tap.ox0 * strideWidth + tap.kw - convInfo.padInfo.left;
      heap.set(
        [
          (iy * W + ix) * C * 4,
          (tap.oy0 * OW + tap.ox0) * O * 4,
          tap.rows,
          tap.cols,
          (tap.kh * convInfo.filterWidth + tap.kw) * C * O * 4,
        ],
        i * TAP_FIELDS,
      );
    });
    const outOffset = backend.dataIdMap.get(out.dataId)!.memoryOffset;
    new Float32Array(simd.memory.buffer, outOffset, tf.util.sizeFromShape(filterShape)).fill(0);
    simd.exports.filterGrad(
      backend.dataIdMap.get(x.dataId)!.memoryOffset,
      backend.dataIdMap.get(dy.dataId)!.memoryOffset,
      outOffset,
      batchSize,
      taps.length,
      table,
      C,
      O,
      H * W * C * 4,
      OH * OW * O * 4,
      strideWidth * C * 4,
      strideHeight * W * C * 4,
      OW * O * 4,
    );
  } finally {
    backend.wasm._free(table);
  }
  countSimdCall('filterGrad');
  return out;
}
