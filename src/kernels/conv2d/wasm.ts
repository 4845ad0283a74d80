import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';
import { copyPadded, copyPaddedSimd } from '../wasm/pad_copy';
import { CONV_TILE_PIXELS, TILE_IN, TILE_OUT } from '../wasm/program';
import { countSimdCall, splitTiles, type SimdModule, type WasmHeapBackend } from '../wasm/runtime';
import { Scratch } from '../wasm/scratch';
import { WINOGRAD_PLANES, winogradBlocks, winogradFilter, winogradFits } from '../wasm/winograd';
import { simdModuleFor } from '../wasm_module';

/**
 * Conv2D and FusedConv2D (bias, linear or ReLU) on the wasm backend with the project's SIMD kernel, straight on the
 * tensors in the wasm heap. The input is copied once into a zero-padded image where the convolution needs padding
 * (or its channel count is not a multiple of 4: the RGB stem), so that the kernel has no edge cases; the work is
 * split by images over the module's threads. Returns null for what it does not handle (the caller runs the stock
 * kernel): NCHW, dilations, other activations or a PReLU, a bias that is not one value per output channel, output
 * channels not a multiple of 8, outputs narrower than 4 pixels, non-float32, a backend whose memory is not
 * reachable.
 */
export function conv2dSimd(args: KernelArgs): tf.TensorInfo | null {
  const { x, filter, bias, preluActivationWeights } = args.inputs as Record<
    string,
    tf.TensorInfo | undefined
  >;
  const attrs = args.attrs as unknown as tf.FusedConv2DAttrs;
  const activation = attrs.activation ?? 'linear';
  if (x == null || filter == null || preluActivationWeights != null) return null;
  if (activation !== 'linear' && activation !== 'relu') return null;
  if (x.dtype !== 'float32' || filter.dtype !== 'float32' || (bias != null && bias.dtype !== 'float32'))
    return null;
  const dilations = attrs.dilations ?? [1, 1];
  if ((typeof dilations === 'number' ? [dilations] : dilations).some((d) => d !== 1)) return null;
  const convInfo = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(attrs.dataFormat),
  );
  const {
    batchSize: N,
    inHeight: H,
    inWidth: W,
    inChannels,
    outChannels: O,
    outHeight: OH,
    outWidth: OW,
  } = convInfo;
  const { strideHeight: sH, strideWidth: sW, filterHeight: FH, filterWidth: FW, padInfo } = convInfo;
  if (convInfo.dataFormat !== 'channelsLast' || O % TILE_OUT !== 0 || OW < CONV_TILE_PIXELS) return null;
  if (bias != null && tf.util.sizeFromShape(bias.shape) !== O) return null;
  const backend = args.backend as unknown as WasmHeapBackend;
  const simd = simdModuleFor(backend);
  if (simd == null) return null;

  const C = Math.ceil(inChannels / TILE_IN) * TILE_IN;
  // the rows/columns the valid convolution reads: the unused tail of 'same' padding is left out
  const Hp = (OH - 1) * sH + FH;
  const Wp = (OW - 1) * sW + FW;
  const copyInput = padInfo.top > 0 || padInfo.left > 0 || Hp > H || Wp > W || C !== inChannels;
  const out = backend.makeOutput([N, OH, OW, O], 'float32');
  const scratch = new Scratch(backend);
  const alloc = (bytes: number) => scratch.bytes(bytes);

  try {
    const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
    let xAt = offset(x);
    let wAt = offset(filter);
    let rowFloats = W * C;
    let imageFloats = H * W * C;
    if (copyInput) {
      const padded = alloc(N * Hp * Wp * C * 4);
      const geometry = { N, H, W, inChannels, Hp, Wp, C, top: padInfo.top, left: padInfo.left };
      if (C === inChannels) copyPaddedSimd(simd, xAt, padded, geometry);
      else copyPadded(simd.memory, xAt, padded, geometry);
      xAt = padded;
      rowFloats = Wp * C;
      imageFloats = Hp * Wp * C;
    }
    if (C !== inChannels) {
      // the filter with zero rows for the padded input channels: [FH, FW, C, O]
      const padded = alloc(FH * FW * C * O * 4);
      const from = new Float32Array(simd.memory.buffer, wAt, FH * FW * inChannels * O);
      const to = new Float32Array(simd.memory.buffer, padded, FH * FW * C * O);
      to.fill(0);
      for (let tap = 0; tap < FH * FW; tap++) {
        to.set(from.subarray(tap * inChannels * O, (tap + 1) * inChannels * O), tap * C * O);
      }
      wAt = padded;
    }
    const winograd = { N, OH, OW, C, O, xAt, xImage: imageFloats * 4, xRow: rowFloats * 4 };
    if (bias == null && activation === 'linear' && winogradFits(FH, FW, sH, sW, OH, OW, C, O)) {
      const filterValues = new Float32Array(simd.memory.buffer, wAt, FH * FW * C * O);
      const outStrides = { outAt: offset(out), outImage: OH * OW * O * 4, outRow: OW * O * 4 };
      winogradConv(simd, scratch, { ...winograd, ...outStrides }, filterValues);
      countSimdCall('winograd');
      return out;
    }
    const common = [xAt, wAt, offset(out), bias == null ? 0 : offset(bias)];
    const geometry = [OH, OW, O, imageFloats * 4, rowFloats * 4, sH * rowFloats * 4, sW * C * 4, FH, FW * C];
    const relu = activation === 'relu' ? 1 : 0;
    const outStrides = [OH * OW * O * 4, OW * O * 4, O * 4];
    simd.run(
      'conv',
      splitTiles(N, simd.threads).map(([from, to]) => [
        ...common,
        from,
        to,
        ...geometry,
        relu,
        ...outStrides,
      ]),
    );
  } catch (error) {
    (args.backend as tf.KernelBackend).disposeData(out.dataId);
    throw error;
  } finally {
    scratch.release();
  }
  countSimdCall('conv');
  return out;
}

/** Where a valid 3x3 stride-1 convolution reads and writes (byte offsets and strides; rows OH + 2 of input). */
export interface WinogradGeometry {
  N: number;
  OH: number;
  OW: number;
  C: number;
  O: number;
  xAt: number;
  xImage: number;
  xRow: number;
  outAt: number;
  outImage: number;
  outRow: number;
}

/**
 * Runs a valid 3x3 stride-1 convolution (winogradFits) with the `winograd` kernel: the filter (read before any
 * allocation: `filter` may be a view of the heap) is transformed here, each thread gets its own scratch blocks,
 * the images are split over the threads.
 */
export function winogradConv(
  simd: SimdModule,
  scratch: Scratch,
  g: WinogradGeometry,
  filter: ArrayLike<number>,
): void {
  const u = winogradFilter(filter, g.C, g.O);
  const { tilesH, tilesW, blockRows, vPlane, outPlane: mPlane } = winogradBlocks(g);
  const uAt = scratch.floats(simd, u.length, u);
  const shares = splitTiles(g.N, simd.threads).map(([from, to]) => {
    const v = scratch.bytes(WINOGRAD_PLANES * vPlane);
    const m = scratch.bytes(WINOGRAD_PLANES * mPlane);
    const geometry = [
      tilesH,
      tilesW,
      g.C,
      g.O,
      g.xImage,
      g.xRow,
      g.outImage,
      g.outRow,
      blockRows,
      vPlane,
      mPlane,
    ];
    return [g.xAt, uAt, g.outAt, v, m, from, to, ...geometry];
  });
  simd.run('winograd', shares);
}
