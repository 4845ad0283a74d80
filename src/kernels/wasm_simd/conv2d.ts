import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';
import { CONV_TILE_PIXELS, TAP_FIELDS, TILE_IN, TILE_OUT, WINOGRAD_OUT, WINOGRAD_PLANES } from './programs';
import {
  countSimdCall,
  Scratch,
  simdModuleFor,
  splitTiles,
  type SimdModule,
  type WasmHeapBackend,
} from './runtime';

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

export interface PadGeometry {
  N: number;
  H: number;
  W: number;
  inChannels: number;
  /** The padded image: rows, columns, channels (a multiple of 4). */
  Hp: number;
  Wp: number;
  C: number;
  top: number;
  left: number;
}

/** copyPadded for channels already a multiple of 4: the padCopy kernel, split by images over the threads. */
export function copyPaddedSimd(simd: SimdModule, from: number, to: number, g: PadGeometry): void {
  const cols = Math.max(0, Math.min(g.W, g.Wp - g.left));
  const rowIn = g.W * g.C * 4;
  const shape = [g.H, rowIn, g.Hp, g.Wp * g.C * 4, g.top, Math.min(g.left, g.Wp) * g.C * 4, cols * g.C * 4];
  simd.run(
    'padCopy',
    splitTiles(g.N, simd.threads).map(([n0, n1]) => [from, to, n0, n1, ...shape]),
  );
}

/** Copies NHWC images at byte offset `from` into zero-padded [N, Hp, Wp, C] images at `to` (rows past Hp/Wp dropped). */
export function copyPadded(memory: WebAssembly.Memory, from: number, to: number, g: PadGeometry): void {
  const source = new Float32Array(memory.buffer, from, g.N * g.H * g.W * g.inChannels);
  const target = new Float32Array(memory.buffer, to, g.N * g.Hp * g.Wp * g.C);
  target.fill(0);
  const rows = Math.min(g.H, g.Hp - g.top);
  const cols = Math.min(g.W, g.Wp - g.left);
  for (let n = 0; n < g.N; n++) {
    for (let y = 0; y < rows; y++) {
      const src = (n * g.H + y) * g.W * g.inChannels;
      const dst = ((n * g.Hp + y + g.top) * g.Wp + g.left) * g.C;
      if (g.C === g.inChannels) {
        target.set(source.subarray(src, src + cols * g.C), dst);
      } else {
        for (let col = 0; col < cols; col++) {
          for (let c = 0; c < g.inChannels; c++)
            target[dst + col * g.C + c] = source[src + col * g.inChannels + c];
        }
      }
    }
  }
}

/** Tiles of 2x2 outputs per block of the Winograd kernels (their scratch: 16 planes of about this many tiles, in and out; a block spans images where they are smaller). */
const WINOGRAD_BLOCK_TILES = 64;

/**
 * Whether a convolution runs in Winograd form (winogradConv): 3x3, stride 1, an even output at least 8 wide (4
 * tiles: the 1x1 products need 4 pixels), input channels a multiple of 4 and at least 16 (fewer leave the
 * transforms as much work as the products), output channels a multiple of 8.
 */
export function winogradFits(
  FH: number,
  FW: number,
  sH: number,
  sW: number,
  OH: number,
  OW: number,
  C: number,
  O: number,
): boolean {
  return (
    FH === 3 &&
    FW === 3 &&
    sH === 1 &&
    sW === 1 &&
    OH % WINOGRAD_OUT === 0 &&
    OW % WINOGRAD_OUT === 0 &&
    OW >= WINOGRAD_OUT * CONV_TILE_PIXELS &&
    C % TILE_IN === 0 &&
    C >= 16 &&
    O % TILE_OUT === 0
  );
}

/** The filter transform u[ξ = 4a + b, c, o] = (G·g[·, ·, c, o]·Gᵀ)[a, b] of Winograd F(2x2, 3x3), g = [3, 3, C, O]. */
export function winogradFilter(g: ArrayLike<number>, C: number, O: number): Float32Array {
  const u = new Float32Array(WINOGRAD_PLANES * C * O);
  const CO = C * O;
  const t = new Float64Array(12);
  for (let k = 0; k < CO; k++) {
    // t = G·g (4x3): rows g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2 (g's rows)
    for (let j = 0; j < 3; j++) {
      const g0 = g[(0 * 3 + j) * CO + k];
      const g1 = g[(1 * 3 + j) * CO + k];
      const g2 = g[(2 * 3 + j) * CO + k];
      t[j] = g0;
      t[3 + j] = (g0 + g1 + g2) / 2;
      t[6 + j] = (g0 - g1 + g2) / 2;
      t[9 + j] = g2;
    }
    // u = t·Gᵀ (4x4): the same combination along each row of t
    for (let a = 0; a < 4; a++) {
      const [t0, t1, t2] = [t[3 * a], t[3 * a + 1], t[3 * a + 2]];
      const row = 4 * a;
      u[(row + 0) * CO + k] = t0;
      u[(row + 1) * CO + k] = (t0 + t1 + t2) / 2;
      u[(row + 2) * CO + k] = (t0 - t1 + t2) / 2;
      u[(row + 3) * CO + k] = t2;
    }
  }
  return u;
}

/**
 * Both Winograd kernels' blocking: 2x2-output tiles, tile rows per block (about WINOGRAD_BLOCK_TILES tiles), and
 * the byte strides of the 16 transformed planes of C (input side) and O (output side) channels per block, each one
 * cache line past the plane (16 planes 2^k bytes apart would fall in one cache set).
 */
function winogradBlocks(g: { OH: number; OW: number; C: number; O: number }) {
  const tilesH = g.OH / WINOGRAD_OUT;
  const tilesW = g.OW / WINOGRAD_OUT;
  const blockRows = Math.max(1, Math.floor(WINOGRAD_BLOCK_TILES / tilesW));
  const plane = (channels: number) => blockRows * tilesW * channels * 4 + 64;
  return { tilesH, tilesW, blockRows, vPlane: plane(g.C), outPlane: plane(g.O) };
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
