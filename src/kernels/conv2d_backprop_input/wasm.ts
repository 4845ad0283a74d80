import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';
import { winogradConv } from '../conv2d/wasm';
import { channelsLastConvInfo, isChannelsLast } from '../conv_info';
import { copyPadded, copyPaddedSimd } from '../wasm/pad_copy';
import { CONV_TILE_PIXELS, TILE_OUT } from '../wasm/program';
import { countSimdCall, splitTiles, type WasmHeapBackend } from '../wasm/runtime';
import { Scratch } from '../wasm/scratch';
import { winogradFits } from '../wasm/winograd';
import { simdModuleFor } from '../wasm_module';

/**
 * One phase of one spatial axis of a transposed convolution. With the forward y[o] = Σ_i xPad[o·s + i]·W[i]
 * (p rows of padding before), the input gradient at x row s·q + r (phase r) is
 *
 *   dx[s·q + r] = Σ_{m < taps} dy[q + a − m] · W[t + s·m],  t = (r + p) mod s,  a = ⌊(r + p) / s⌋
 *
 * over the filter rows t, t + s, ... below the filter size (`taps` of them; none when t >= the filter size: that
 * phase of dx is zero). Reading dy rows q + first + k for k = 0 ... taps − 1 (first = a − taps + 1), window row k
 * meets filter row t + s·(taps − 1 − k): a stride-1 'valid' convolution of dy.
 */
export interface InputGradPhase {
  /** dx rows of this phase: those s·q + r below the input size */
  rows: number;
  taps: number;
  /** the dy row window row 0 reads for q = 0 (negative: in the padding before dy) */
  first: number;
  /** filter row of window row k: filterRows[k] */
  filterRows: number[];
}

export function inputGradPhases(
  inSize: number,
  filter: number,
  stride: number,
  padBefore: number,
): InputGradPhase[] {
  return Array.from({ length: stride }, (_, r): InputGradPhase => {
    const t = (r + padBefore) % stride;
    const a = Math.floor((r + padBefore) / stride);
    const taps = t < filter ? Math.ceil((filter - t) / stride) : 0;
    return {
      rows: Math.max(0, Math.ceil((inSize - r) / stride)),
      taps,
      first: a - taps + 1,
      filterRows: Array.from({ length: taps }, (_, k) => t + stride * (taps - 1 - k)),
    };
  });
}

/**
 * Conv2DBackpropInput on the wasm backend with the project's SIMD convolution kernel, direct for every stride:
 * each of the sH·sW phases of dx (rows s·q + r, columns s·q' + r') is a stride-1 convolution of dy with only
 * that phase's filter taps, written straight into its pixels of dx (the kernel's output strides). No zeros are
 * inserted and no tap is padded: a 3x3 stride-2 layer does the 9 multiply-adds per input pixel of the
 * definition, where the sub-pixel form (via_conv.ts) does 16, and a 1x1 stride-2 shortcut a quarter
 * of the sub-pixel form's. dy is copied once into a zero-padded image when a phase's window reaches past it.
 * Returns null (the caller runs conv2dBackpropInputViaConv) for NCHW, non-float32, input channels not a multiple
 * of 8, phases narrower than 4 pixels, or no SIMD module.
 */
export function conv2dBackpropInputSimd(args: KernelArgs): tf.TensorInfo | null {
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  if (!isChannelsLast(attrs) || dy.dtype !== 'float32' || filter.dtype !== 'float32') return null;
  const info = channelsLastConvInfo('Conv2DBackpropInput (SIMD)', attrs, attrs.inputShape, filter.shape);
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { outChannels: O, strideHeight: sH, strideWidth: sW, filterHeight: FH, filterWidth: FW } = info;
  if (C % TILE_OUT !== 0) return null;
  const rowPhases = inputGradPhases(H, FH, sH, info.padInfo.top);
  const colPhases = inputGradPhases(W, FW, sW, info.padInfo.left);
  const used = (phases: InputGradPhase[]) => phases.filter((p) => p.taps > 0 && p.rows > 0);
  if (used(colPhases).some((p) => p.rows < CONV_TILE_PIXELS)) return null;
  const backend = args.backend as unknown as WasmHeapBackend;
  const simd = simdModuleFor(backend);
  if (simd == null) return null;

  // dy padded so that every window of every used phase lies inside it
  const span = (phases: InputGradPhase[], size: number) => {
    const lo = Math.min(0, ...used(phases).map((p) => p.first));
    const hi = Math.max(size, ...used(phases).map((p) => p.first + p.rows - 1 + p.taps));
    return { before: -lo, total: hi - lo };
  };
  const rowsSpan = span(rowPhases, OH);
  const colsSpan = span(colPhases, OW);
  const copyDy = rowsSpan.before > 0 || colsSpan.before > 0 || rowsSpan.total > OH || colsSpan.total > OW;
  const out = backend.makeOutput([N, H, W, C], 'float32');
  const scratch = new Scratch(backend);
  let winograd = false;
  try {
    const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
    let dyAt = offset(dy);
    const [Hp, Wp] = copyDy ? [rowsSpan.total, colsSpan.total] : [OH, OW];
    if (copyDy) {
      const padded = scratch.bytes(N * Hp * Wp * O * 4);
      const geometry = {
        N,
        H: OH,
        W: OW,
        inChannels: O,
        Hp,
        Wp,
        C: O,
        top: rowsSpan.before,
        left: colsSpan.before,
      };
      if (O % 4 === 0) copyPaddedSimd(simd, dyAt, padded, geometry);
      else copyPadded(simd.memory, dyAt, padded, geometry);
      dyAt = padded;
    }
    // phases with no taps are zero; the others overwrite every pixel of theirs
    const dxAt = offset(out);
    if (rowPhases.some((p) => p.taps === 0) || colPhases.some((p) => p.taps === 0)) {
      new Float32Array(simd.memory.buffer, dxAt, N * H * W * C).fill(0);
    }
    const weights = new Float32Array(simd.memory.buffer, offset(filter), FH * FW * C * O).slice();
    rowPhases.forEach((rp, rh) => {
      colPhases.forEach((cp, rw) => {
        if (rp.taps === 0 || cp.taps === 0 || rp.rows === 0 || cp.rows === 0) return;
        // the phase's filter [taps_h, taps_w, O, C] from W [FH, FW, C, O]
        const phaseFilter = new Float32Array(rp.taps * cp.taps * O * C);
        let k = 0;
        for (const i of rp.filterRows) {
          for (const j of cp.filterRows) {
            const tap = (i * FW + j) * C * O;
            for (let o = 0; o < O; o++) {
              for (let c = 0; c < C; c++) phaseFilter[k++] = weights[tap + c * O + o];
            }
          }
        }
        const rowBytes = Wp * O * 4;
        const xAt = dyAt + (rp.first + rowsSpan.before) * rowBytes + (cp.first + colsSpan.before) * O * 4;
        if (winogradFits(rp.taps, cp.taps, sH, sW, rp.rows, cp.rows, O, C)) {
          // stride 1: the one phase is a 3x3 convolution of the padded dy (rows H + 2) into all of dx
          const geometry = { N, OH: H, OW: W, C: O, O: C, xAt, xImage: Hp * rowBytes, xRow: rowBytes };
          winogradConv(
            simd,
            scratch,
            { ...geometry, outAt: dxAt, outImage: H * W * C * 4, outRow: W * C * 4 },
            phaseFilter,
          );
          winograd = true;
          return;
        }
        const wAt = scratch.floats(simd, phaseFilter.length, phaseFilter);
        const geometry = [
          rp.rows,
          cp.rows,
          C,
          Hp * rowBytes,
          rowBytes,
          rowBytes,
          O * 4,
          rp.taps,
          cp.taps * O,
          0,
        ];
        const outStrides = [H * W * C * 4, sH * W * C * 4, sW * C * 4];
        const outAt = dxAt + (rh * W + rw) * C * 4;
        simd.run(
          'conv',
          splitTiles(N, simd.threads).map(([from, to]) => [
            xAt,
            wAt,
            outAt,
            0,
            from,
            to,
            ...geometry,
            ...outStrides,
          ]),
        );
      });
    });
  } catch (error) {
    (args.backend as tf.KernelBackend).disposeData(out.dataId);
    throw error;
  } finally {
    scratch.release();
  }
  countSimdCall(winograd ? 'inputGradWinograd' : 'inputGrad');
  return out;
}
