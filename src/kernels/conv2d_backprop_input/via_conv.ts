import * as tf from '@tensorflow/tfjs';
import { BackendOps, type KernelArgs } from '../backend_ops';
import { channelsLastConvInfo, isChannelsLast } from '../conv_info';

/**
 * One spatial axis of the sub-pixel form of a strided input gradient. With dx index y = s·q + r (phase r):
 *
 *   dx[s·q + r] = Σ_{m < M_r} dy[q + a_r − m] · W[t_r + s·m],  t_r = (r + p) mod s,  a_r = ⌊(r + p) / s⌋
 *
 * (p = the forward padding before the axis; M_r = the taps i ≡ t_r (mod s) of the filter). Phase r reads dy
 * rows q + a_r − M_r + 1 ... q + a_r; all phases together read a window of `window` rows, so one stride-1 conv of
 * the undilated dy with `window` taps computes every phase at once, each phase as its own block of output
 * channels: `taps[k·s + r]` is the filter tap of window row k for phase r, or −1 where the phase has none.
 */
export interface SubPixelAxis {
  stride: number;
  window: number;
  /** dy rows of padding before the first window (negative: rows to crop), and after the last. */
  before: number;
  after: number;
  /** phase rows: ⌈in / s⌉ (the last phase row may run past `in`; the result is cropped) */
  rows: number;
  taps: number[];
}

export function subPixelAxis(
  inSize: number,
  outSize: number,
  filter: number,
  stride: number,
  padBefore: number,
): SubPixelAxis {
  const phases = Array.from({ length: stride }, (_, r) => {
    const t = (r + padBefore) % stride;
    return {
      t,
      a: Math.floor((r + padBefore) / stride),
      m: t < filter ? Math.ceil((filter - t) / stride) : 0,
    };
  });
  // phase r reads dy rows q + a_r − M_r + 1 ... q + a_r: the window spans the lowest to the highest of those
  const used = phases.filter((ph) => ph.m > 0);
  const lo = Math.min(...used.map((ph) => ph.a - ph.m + 1));
  const hi = Math.max(...used.map((ph) => ph.a));
  const window = hi - lo + 1;
  const taps: number[] = [];
  for (let k = 0; k < window; k++) {
    for (const { t, a, m: count } of phases) {
      // window row k is dy row q + lo + k = q + a − m
      const m = a - lo - k;
      taps.push(m >= 0 && m < count ? t + stride * m : -1);
    }
  }
  const rows = Math.ceil(inSize / stride);
  const before = 0 - lo;
  return { stride, window, before, after: rows + window - 1 - outSize - before, rows, taps };
}

/**
 * The sub-pixel plan for both axes, or null: it needs equal strides above 1 and no more multiply-adds than the
 * dilated form (3x3 stride 2 'same': 16 taps per 4 outputs, 2.25x fewer than 9 taps per output over 4 times the
 * positions; a 1x1 stride 2 shortcut: as many). Even at equal work it wins on wasm: it skips the zero-inserting
 * 6-D pad of dy (tfjs-backend-wasm's PadV2 walks it element by element: ~150 ms for a [128, 16, 16, 64] dy).
 */
export function subPixelPlan(
  convInfo: tf.backend_util.Conv2DInfo,
): { h: SubPixelAxis; w: SubPixelAxis } | null {
  const { strideHeight: sH, strideWidth: sW, filterHeight: fH, filterWidth: fW, padInfo } = convInfo;
  if (sH !== sW || sH < 2) return null;
  const h = subPixelAxis(convInfo.inHeight, convInfo.outHeight, fH, sH, padInfo.top);
  const w = subPixelAxis(convInfo.inWidth, convInfo.outWidth, fW, sW, padInfo.left);
  const subPixel = h.rows * w.rows * h.window * w.window * sH * sW;
  const dilated = convInfo.inHeight * convInfo.inWidth * fH * fW;
  return subPixel <= dilated ? { h, w } : null;
}

/**
 * Input gradient of a 2-D convolution (NHWC), computed with the backend's own Reshape, PadV2, Slice, Reverse,
 * Transpose and Conv2D kernels, so that on wasm the work runs in XNNPACK's convolution instead of
 * tfjs-backend-wasm's Conv2DBackpropInput, a naive loop that took 47-69% of a ResNet training step.
 *
 * With the forward y[n, oy, ox, o] = Σ_{i, j, c} xPad[n, oy·s + i, ox·s + j, c] · W[i, j, c, o]:
 *
 *   dx[n, y, x, c] = Σ_{i, j, o} dyDil[n, y + padTop − i, x + padLeft − j, o] · W[i, j, c, o]
 *
 * where dyDil is dy with s − 1 zeros inserted between its rows and columns. Substituting i' = FH − 1 − i makes
 * that a 'valid' stride-1 convolution of dyDil, zero-padded by FH − 1 − padTop rows on top (FW − 1 − padLeft
 * columns on the left) and as many at the bottom/right as make the output inHeight x inWidth, with the filter
 * flipped in both spatial axes and its channel axes swapped: Wflip[i', j', o, c] = W[FH−1−i', FW−1−j', c, o].
 * A negative padding (a forward pad wider than the filter, or dy rows that only touch the padding) becomes a
 * crop. Equal strides above 1 take the sub-pixel form instead (subPixelPlan: no zeros inserted, fewer
 * multiply-adds). Returns null for NCHW (wasm's Conv2D is NHWC only): the caller then runs the stock kernel.
 */
export function conv2dBackpropInputViaConv(args: KernelArgs, backendName: string): tf.TensorInfo | null {
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const { inputShape } = attrs;
  if (!isChannelsLast(attrs)) return null;
  const convInfo = channelsLastConvInfo('Conv2DBackpropInput via conv', attrs, inputShape, filter.shape);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = convInfo;
  const { strideHeight: sH, strideWidth: sW, filterHeight: fH, filterWidth: fW, padInfo } = convInfo;
  const ops = new BackendOps(args.backend, backendName, 'Conv2DBackpropInput via conv');
  try {
    const plan = subPixelPlan(convInfo);
    if (plan != null) return subPixelInputGradient(ops, dy, filter, convInfo, plan);
    // 1. dyDil: [N, OH·sH, OW·sW, O], each dy value followed by sH − 1 (sW − 1) zeros.
    let grad = dy;
    if (sH > 1 || sW > 1) {
      const spread = ops.temp(
        tf.Reshape,
        { x: dy },
        { shape: [batchSize, outHeight, 1, outWidth, 1, outChannels] },
      );
      const zeros = [
        [0, 0],
        [0, 0],
        [0, sH - 1],
        [0, 0],
        [0, sW - 1],
        [0, 0],
      ];
      const padded = ops.temp(tf.PadV2, { x: spread }, { paddings: zeros, constantValue: 0 });
      grad = ops.temp(
        tf.Reshape,
        { x: padded },
        { shape: [batchSize, outHeight * sH, outWidth * sW, outChannels] },
      );
    }
    // 2. The paddings that make a 'valid' stride-1 conv of it yield exactly inHeight x inWidth.
    const top = fH - 1 - padInfo.top;
    const left = fW - 1 - padInfo.left;
    const bottom = inHeight + fH - 1 - top - outHeight * sH;
    const right = inWidth + fW - 1 - left - outWidth * sW;
    if (top < 0 || left < 0 || bottom < 0 || right < 0) {
      const cropTop = Math.max(0, -top);
      const cropLeft = Math.max(0, -left);
      const size = [
        batchSize,
        grad.shape[1] - cropTop - Math.max(0, -bottom),
        grad.shape[2] - cropLeft - Math.max(0, -right),
        outChannels,
      ];
      grad = ops.temp(tf.Slice, { x: grad }, { begin: [0, cropTop, cropLeft, 0], size });
    }
    // 3. Wflip [FH, FW, O, C].
    const reversed = ops.temp(tf.Reverse, { x: filter }, { dims: [0, 1] });
    const flipped = ops.temp(tf.Transpose, { x: reversed }, { perm: [0, 1, 3, 2] });
    const paddings = [
      [0, 0],
      [Math.max(0, top), Math.max(0, bottom)],
      [Math.max(0, left), Math.max(0, right)],
      [0, 0],
    ];
    const dx = ops.run(
      tf.Conv2D,
      { x: grad, filter: flipped },
      { strides: [1, 1], pad: paddings, dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined },
    );
    if (dx.shape[1] !== inHeight || dx.shape[2] !== inWidth || dx.shape[3] !== inChannels) {
      args.backend.disposeData(dx.dataId);
      throw new Error(
        `Conv2DBackpropInput via conv: computed [${dx.shape.join(', ')}] for input [${inputShape.join(', ')}]; ` +
          'this is a bug in src/kernels/conv2d_backprop_input/via_conv.ts',
      );
    }
    return dx;
  } finally {
    ops.release();
  }
}

/**
 * The strided input gradient in sub-pixel form (see subPixelAxis): one stride-1 conv of dy (not dilated) with
 * a filter [windowH, windowW, O, s·s·C] whose channel block (rh·s + rw) holds phase (rh, rw)'s taps, then the
 * phases are interleaved into [N, rowsH·s, rowsW·s, C] (a depth-to-space), cropped to the input size.
 */
function subPixelInputGradient(
  ops: BackendOps,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  convInfo: tf.backend_util.Conv2DInfo,
  plan: { h: SubPixelAxis; w: SubPixelAxis },
): tf.TensorInfo {
  const {
    batchSize,
    inHeight,
    inWidth,
    inChannels: C,
    outChannels: O,
    filterHeight: fH,
    filterWidth: fW,
  } = convInfo;
  const { h, w } = plan;
  const s = h.stride;
  // taps of the combined filter, in [window row, window col, phase row, phase col] order; fH·fW = a zero tap
  const indices: number[] = [];
  for (let kh = 0; kh < h.window; kh++) {
    for (let kw = 0; kw < w.window; kw++) {
      for (let rh = 0; rh < s; rh++) {
        for (let rw = 0; rw < s; rw++) {
          const i = h.taps[kh * s + rh];
          const j = w.taps[kw * s + rw];
          indices.push(i >= 0 && j >= 0 ? i * fW + j : fH * fW);
        }
      }
    }
  }
  const swapped = ops.temp(tf.Transpose, { x: filter }, { perm: [0, 1, 3, 2] }); // [FH, FW, O, C]
  const flat = ops.temp(tf.Reshape, { x: swapped }, { shape: [fH * fW, O, C] });
  const withZero = ops.temp(
    tf.PadV2,
    { x: flat },
    {
      paddings: [
        [0, 1],
        [0, 0],
        [0, 0],
      ],
      constantValue: 0,
    },
  );
  const tapIndices = ops.constant([indices.length], 'int32', Int32Array.from(indices));
  const gathered = ops.temp(tf.GatherV2, { x: withZero, indices: tapIndices }, { axis: 0, batchDims: 0 });
  const blocks = ops.temp(tf.Reshape, { x: gathered }, { shape: [h.window, w.window, s * s, O, C] });
  const ordered = ops.temp(tf.Transpose, { x: blocks }, { perm: [0, 1, 3, 2, 4] });
  const combined = ops.temp(tf.Reshape, { x: ordered }, { shape: [h.window, w.window, O, s * s * C] });

  let grad = dy;
  if (h.before < 0 || w.before < 0 || h.after < 0 || w.after < 0) {
    const top = Math.max(0, -h.before);
    const left = Math.max(0, -w.before);
    const size = [
      batchSize,
      dy.shape[1] - top - Math.max(0, -h.after),
      dy.shape[2] - left - Math.max(0, -w.after),
      O,
    ];
    grad = ops.temp(tf.Slice, { x: dy }, { begin: [0, top, left, 0], size });
  }
  const pad = [
    [0, 0],
    [Math.max(0, h.before), Math.max(0, h.after)],
    [Math.max(0, w.before), Math.max(0, w.after)],
    [0, 0],
  ];
  const phases = ops.temp(
    tf.Conv2D,
    { x: grad, filter: combined },
    { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined },
  );
  if (phases.shape[1] !== h.rows || phases.shape[2] !== w.rows) {
    throw new Error(
      `Conv2DBackpropInput via conv: sub-pixel conv gave [${phases.shape.join(', ')}], expected ${h.rows} x ${w.rows} ` +
        'phase rows; this is a bug in src/kernels/conv2d_backprop_input/via_conv.ts',
    );
  }
  // Interleave the phases: [N, rowsH, rowsW, s, s·C] -> [N, rowsH, s, rowsW, s·C] (each move is a run of s·C
  // floats; tfjs-backend-wasm's DepthToSpace, an element loop, took 218 ms where this takes 4.5 ms).
  const split = ops.temp(tf.Reshape, { x: phases }, { shape: [batchSize, h.rows, w.rows, s, s * C] });
  const moved = ops.temp(tf.Transpose, { x: split }, { perm: [0, 1, 3, 2, 4] });
  const full = [batchSize, h.rows * s, w.rows * s, C];
  if (h.rows * s === inHeight && w.rows * s === inWidth)
    return ops.run(tf.Reshape, { x: moved }, { shape: full });
  const interleaved = ops.temp(tf.Reshape, { x: moved }, { shape: full });
  return ops.run(
    tf.Slice,
    { x: interleaved },
    { begin: [0, 0, 0, 0], size: [batchSize, inHeight, inWidth, C] },
  );
}
