import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';
import { leadingReduction } from '../reduce_grad';
import type { ChannelwiseOp } from './programs';
import {
  countSimdCall,
  Scratch,
  simdModuleFor,
  splitTiles,
  type SimdModule,
  type WasmHeapBackend,
} from './runtime';

/** Above this many elements channelBinary's JavaScript loop leaves a broadcast to the stock kernel. */
const MAX_LOOP_ELEMENTS = 1 << 17;

/** Below this many elements the stock kernels are as fast (and the SIMD module need not be made). */
const MIN_ELEMENTS = 4096;

/** Makes the output, runs `fill` on it, and disposes it if `fill` throws. */
function withOutput(
  args: KernelArgs,
  shape: number[],
  fill: (out: tf.TensorInfo, backend: WasmHeapBackend) => void,
): tf.TensorInfo {
  const backend = args.backend as unknown as WasmHeapBackend;
  const out = backend.makeOutput(shape, 'float32');
  try {
    fill(out, backend);
  } catch (error) {
    args.backend.disposeData(out.dataId);
    throw error;
  }
  return out;
}

function offsetOf(backend: WasmHeapBackend, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId)!.memoryOffset;
}

/** A float32 view of a tensor in the heap (take it after any allocation: a heap growth replaces the buffer). */
function view(simd: SimdModule, backend: WasmHeapBackend, t: tf.TensorInfo): Float32Array {
  return new Float32Array(simd.memory.buffer, offsetOf(backend, t), tf.util.sizeFromShape(t.shape));
}

/** True when `t` holds one value per channel of `full` (shape [C], [1, C], [1, 1, 1, C], ...). */
function isPerChannel(t: tf.TensorInfo, full: tf.TensorInfo): boolean {
  const C = full.shape[full.shape.length - 1];
  return (
    t.shape.length >= 1 &&
    t.shape.length <= full.shape.length &&
    t.shape[t.shape.length - 1] === C &&
    t.shape.slice(0, -1).every((d) => d === 1)
  );
}

/** Runs a channelwise kernel over x viewed as [rows, C], rows split over the module's threads. */
function runChannelwise(
  simd: SimdModule,
  op: ChannelwiseOp,
  x: number,
  out: number,
  rows: number,
  C: number,
  params: [number, number, number],
): void {
  simd.run(
    op,
    splitTiles(rows, simd.threads).map(([from, to]) => [x, out, from, to, C, ...params]),
  );
  countSimdCall(op);
}

/**
 * How a smaller operand `v` broadcasts into `full` (v's shape right-aligned, padded with 1s): 'trailing' when it
 * is full's trailing block of axes (v[i % inner]: a per-channel vector), 'leading' when it is full's leading block
 * (v[⌊i / inner⌋]: a per-image scale [N, 1, 1, 1]), with `inner` the block's size or the ones' extent; null for
 * other broadcasts or when v would enlarge the output.
 */
export function broadcastPattern(
  v: number[],
  full: number[],
): { kind: 'trailing' | 'leading'; inner: number } | null {
  if (v.length > full.length) return null;
  const padded = [...Array<number>(full.length - v.length).fill(1), ...v];
  if (padded.some((d, i) => d !== 1 && d !== full[i])) return null;
  const firstReal = padded.findIndex((d) => d !== 1);
  if (firstReal === -1) return { kind: 'trailing', inner: 1 }; // one value
  // trailing: 1s, then full's own extents to the end
  if (padded.slice(firstReal).every((d, i) => d === full[firstReal + i])) {
    return { kind: 'trailing', inner: full.slice(firstReal).reduce((p, q) => p * q, 1) };
  }
  // leading: full's own extents, then 1s to the end
  const lastReal = padded.length - 1 - [...padded].reverse().findIndex((d) => d !== 1);
  if (padded.slice(0, lastReal + 1).every((d, i) => d === full[i])) {
    return { kind: 'leading', inner: full.slice(lastReal + 1).reduce((p, q) => p * q, 1) };
  }
  return null;
}

/**
 * Multiply, Add and Sub of a float32 tensor and a smaller one that broadcasts into it (either side) on the wasm
 * backend. A per-channel vector ([C] or [1, ..., 1, C], C a multiple of 4) on a large tensor: the SIMD kernel,
 * four channels at a time, split over the threads (BatchNorm's scale and centring and their gradients; stock:
 * ~5.6 ms for [1, 1, 1, 32] x [128, 32, 32, 32] where a same-shape product takes 2 ms). Other trailing or leading
 * broadcasts on tensors up to 2^17 values (the augmentations' per-channel [3] and per-image [N, 1, 1, 1]
 * factors): a JavaScript loop, where tfjs-backend-wasm's broadcasting loop takes ~50 ns an element. Either way one float32 operation per element, as
 * the stock kernels compute. Other shapes: null.
 */
export function channelBinary(kernel: typeof tf.Multiply | typeof tf.Add | typeof tf.Sub) {
  return (args: KernelArgs): tf.TensorInfo | null => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return null;
    const sizeA = tf.util.sizeFromShape(a.shape);
    const sizeB = tf.util.sizeFromShape(b.shape);
    // the operand with fewer values broadcasts into the other (same-shape products: the stock kernel)
    if (sizeA === sizeB) return null;
    const channelFirst = sizeA < sizeB;
    const [full, small] = channelFirst ? [b, a] : [a, b];
    const pattern = broadcastPattern(small.shape, full.shape);
    if (pattern == null) return null;
    const size = tf.util.sizeFromShape(full.shape);
    const C = full.shape[full.shape.length - 1];
    const backend = args.backend as unknown as WasmHeapBackend;
    const simd = simdModuleFor(backend);
    if (simd != null && isPerChannel(small, full) && C % 4 === 0 && size >= MIN_ELEMENTS) {
      const op: ChannelwiseOp =
        kernel === tf.Multiply ? 'mul' : kernel === tf.Add ? 'add' : channelFirst ? 'rsub' : 'sub';
      return withOutput(args, [...full.shape], (out) => {
        const p = offsetOf(backend, small);
        runChannelwise(simd, op, offsetOf(backend, full), offsetOf(backend, out), size / C, C, [p, p, p]);
      });
    }
    // the loop below pays a function call an element: worth it on augmentation-sized tensors, not on activations
    // (and tfjs-backend-wasm's scalar broadcast is a plain loop already)
    if (size > MAX_LOOP_ELEMENTS || (pattern.kind === 'trailing' && pattern.inner === 1)) return null;
    const heap = args.backend as unknown as { typedArrayFromHeap(t: tf.TensorInfo): Float32Array };
    return withOutput(args, [...full.shape], (out) => {
      const x = heap.typedArrayFromHeap(full);
      const v = heap.typedArrayFromHeap(small);
      const y = heap.typedArrayFromHeap(out);
      // the small operand spread to the full size first (fills and copies), then one tight loop per operation
      const spread = new Float32Array(size);
      const { kind, inner } = pattern;
      if (kind === 'leading')
        for (let r = 0; r < size / inner; r++) spread.fill(v[r], r * inner, (r + 1) * inner);
      else {
        // the block once, then doubled in place (a handful of copies whatever the block's size)
        spread.set(v.subarray(0, inner));
        for (let filled = inner; filled < size; filled *= 2)
          spread.copyWithin(filled, 0, Math.min(filled, size - filled));
      }
      const f = Math.fround;
      if (kernel === tf.Multiply) for (let i = 0; i < size; i++) y[i] = f(x[i] * spread[i]);
      else if (kernel === tf.Add) for (let i = 0; i < size; i++) y[i] = f(x[i] + spread[i]);
      else if (channelFirst) for (let i = 0; i < size; i++) y[i] = f(spread[i] - x[i]);
      else for (let i = 0; i < size; i++) y[i] = f(x[i] - spread[i]);
    });
  };
}

/**
 * Tile of a float32 tensor whose last axis is not repeated (reps [..., 1]) on the wasm backend, as whole rows of
 * the last axis: a per-channel vector ([1, ..., 1, C], C a multiple of 4: BatchNorm's Sum/Mean gradients) in one
 * vectorised pass split over the threads; anything else (global average pooling's gradient, [N, 1, 1, C] over
 * the spatial axes) row by row with TypedArray copies. Stock tfjs-backend-wasm's Tile is an element loop (~140 ms
 * for the pooling gradient of a W2 step). A repeated last axis: null.
 */
export function tileChannels(args: KernelArgs): tf.TensorInfo | null {
  const x = args.inputs.x as tf.TensorInfo;
  const { reps } = args.attrs as unknown as tf.TileAttrs;
  if (x.dtype !== 'float32' || x.shape.length === 0 || reps.length !== x.shape.length) return null;
  const rank = x.shape.length;
  const C = x.shape[rank - 1];
  if (reps[rank - 1] !== 1) return null;
  const shape = x.shape.map((d, i) => d * reps[i]);
  const size = tf.util.sizeFromShape(shape);
  if (size < MIN_ELEMENTS) return null;
  const backend = args.backend as unknown as WasmHeapBackend;
  const simd = simdModuleFor(backend);
  if (simd != null && C % 4 === 0 && x.shape.slice(0, -1).every((d) => d === 1)) {
    return withOutput(args, shape, (out) => {
      const p = offsetOf(backend, x);
      runChannelwise(simd, 'broadcast', p, offsetOf(backend, out), size / C, C, [p, p, p]);
    });
  }
  const heap = args.backend as unknown as { typedArrayFromHeap(t: tf.TensorInfo): Float32Array };
  return withOutput(args, shape, (out) => {
    const source = heap.typedArrayFromHeap(x);
    const target = heap.typedArrayFromHeap(out);
    // odometer over the output's leading indices; the source row is each index modulo the source's extent
    const lead = shape.slice(0, -1);
    const index = lead.map(() => 0);
    const sourceStrides = x.shape
      .slice(0, -1)
      .map((_, d) => x.shape.slice(d + 1, -1).reduce((p, q) => p * q, 1));
    for (let row = 0; row < size / C; row++) {
      let from = 0;
      for (let d = 0; d < lead.length; d++) from += (index[d] % x.shape[d]) * sourceStrides[d];
      if (C >= 16) target.set(source.subarray(from * C, from * C + C), row * C);
      else for (let c = 0; c < C; c++) target[row * C + c] = source[from * C + c];
      for (let d = lead.length - 1; d >= 0; d--) {
        if (++index[d] < lead[d]) break;
        index[d] = 0;
      }
    }
  });
}

/**
 * FusedBatchNorm (tf.batchNorm) over the last axis on the wasm backend: y = (x − mean) · s + offset with
 * s = scale / √(variance + ε) worked out once per channel, then one vectorised pass (the stock kernel took
 * ~17 ms for a [128, 32, 32, 32] activation, a third of it in the broadcasting). Null for other layouts.
 */
export function fusedBatchNormSimd(args: KernelArgs): tf.TensorInfo | null {
  const { x, mean, variance, offset, scale } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const { varianceEpsilon } = args.attrs as unknown as tf.FusedBatchNormAttrs;
  if (x == null || mean == null || variance == null || x.dtype !== 'float32') return null;
  const params = [mean, variance, offset, scale].filter((t): t is tf.TensorInfo => t != null);
  if (params.some((t) => t.dtype !== 'float32' || !isPerChannel(t, x))) return null;
  const C = x.shape[x.shape.length - 1];
  const size = tf.util.sizeFromShape(x.shape);
  if (C % 4 !== 0 || size < MIN_ELEMENTS) return null;
  const backend = args.backend as unknown as WasmHeapBackend;
  const simd = simdModuleFor(backend);
  if (simd == null) return null;
  return withOutput(args, [...x.shape], (out) => {
    const scratch = new Scratch(backend);
    try {
      const factor = new Float32Array(C);
      const v = view(simd, backend, variance);
      const g = scale == null ? null : view(simd, backend, scale);
      for (let c = 0; c < C; c++) factor[c] = (g == null ? 1 : g[c]) / Math.sqrt(v[c] + varianceEpsilon);
      const s = scratch.floats(simd, C, factor);
      const o = offset == null ? scratch.floats(simd, C) : offsetOf(backend, offset);
      runChannelwise(simd, 'batchNorm', offsetOf(backend, x), offsetOf(backend, out), size / C, C, [
        offsetOf(backend, mean),
        s,
        o,
      ]);
    } finally {
      scratch.release();
    }
  });
}

/**
 * Sum and Mean of a float32 tensor over its leading axes down to [..., C] (BatchNorm's moments and their
 * gradients) on the wasm backend: the rows are added four channels at a time in blocks of 64 (see
 * buildSumRowsFunction), split over the module's threads, and the per-thread totals added in float64. Null for
 * other reductions, or channels not a multiple of 4 (the caller's fall-back takes them).
 */
export function sumLeadingSimd(kernel: typeof tf.Sum | typeof tf.Mean) {
  return (args: KernelArgs): tf.TensorInfo | null => {
    const x = args.inputs.x as tf.TensorInfo;
    const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
    const leading = leadingReduction(x, axis);
    if (leading == null) return null;
    const { axes, rows, kept, inner: C } = leading;
    if (C % 4 !== 0 || rows * C < MIN_ELEMENTS) return null;
    const backend = args.backend as unknown as WasmHeapBackend;
    const simd = simdModuleFor(backend);
    if (simd == null) return null;
    const out = withOutput(args, keepDims ? [...axes.map(() => 1), ...kept] : kept, (result) => {
      const scratch = new Scratch(backend);
      try {
        const shares = splitTiles(rows, simd.threads);
        const totals = shares.map(() => scratch.floats(simd, C));
        const blocks = shares.map(() => scratch.floats(simd, C));
        simd.run(
          'sumRows',
          shares.map(([from, to], i) => [offsetOf(backend, x), from, to, C, totals[i], blocks[i]]),
        );
        const sums = new Float64Array(C);
        for (const t of totals) {
          const partial = new Float32Array(simd.memory.buffer, t, C);
          for (let c = 0; c < C; c++) sums[c] += partial[c];
        }
        const divisor = kernel === tf.Mean ? rows : 1;
        const target = view(simd, backend, result);
        for (let c = 0; c < C; c++) target[c] = sums[c] / divisor;
      } finally {
        scratch.release();
      }
    });
    countSimdCall('sumRows');
    return out;
  };
}

/** The SIMD BatchNorm gradient kernels take x [..., C] with C a multiple of 4 and enough elements to be worth it. */
function batchNormSimdFits(x: tf.TensorInfo): boolean {
  return x.shape[x.shape.length - 1] % 4 === 0 && tf.util.sizeFromShape(x.shape) >= MIN_ELEMENTS;
}

/** Checks the BatchNorm gradient kernels' inputs: float32, dy shaped as x [..., C], the others per channel. */
function checkBatchNormInputs(
  kernel: string,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  vectors: tf.TensorInfo[],
): void {
  const ok =
    x.shape.length >= 1 &&
    tf.util.arraysEqual(dy.shape, x.shape) &&
    vectors.every((v) => isPerChannel(v, x)) &&
    [x, dy, ...vectors].every((t) => t.dtype === 'float32');
  if (!ok) {
    throw new Error(
      `${kernel}: expects float32 dy and x of one shape [..., C] and per-channel [C] vectors, got x ` +
        `[${x.shape.join(', ')}], dy [${dy.shape.join(', ')}], vectors ${vectors.map((v) => `[${v.shape.join(', ')}]`).join(' ')}`,
    );
  }
}

/**
 * ProjectBatchNormGradSums (BATCHNORM_GRAD_SUMS_KERNEL) on wasm: [Σ dy; Σ dy·(x − mean)] [2, C] over every axis of
 * x [..., C] but the last, in one SIMD pass over dy and x (buildBatchNormSumsFunction), rows split over the
 * threads, the per-thread totals added in float64; a JavaScript loop (float64 sums) where SIMD does not fit.
 */
export function batchNormGradSumsSimd(args: KernelArgs): tf.TensorInfo {
  const { dy, x, mean } = args.inputs as Record<string, tf.TensorInfo>;
  checkBatchNormInputs('ProjectBatchNormGradSums', x, dy, [mean]);
  const C = x.shape[x.shape.length - 1];
  const backend = args.backend as unknown as WasmHeapBackend;
  const simd = batchNormSimdFits(x) ? simdModuleFor(backend) : null;
  const rows = tf.util.sizeFromShape(x.shape) / C;
  const heap = args.backend as unknown as { typedArrayFromHeap(t: tf.TensorInfo): Float32Array };
  return withOutput(args, [2, C], (result) => {
    const sums = new Float64Array(2 * C);
    if (simd == null) {
      const [d, v, m] = [dy, x, mean].map((t) => heap.typedArrayFromHeap(t));
      for (let i = 0, c = 0; i < d.length; i++, c = c + 1 === C ? 0 : c + 1) {
        sums[c] += d[i];
        sums[C + c] += d[i] * (v[i] - m[c]);
      }
      heap.typedArrayFromHeap(result).set(sums);
      return;
    }
    const scratch = new Scratch(backend);
    try {
      const shares = splitTiles(rows, simd.threads);
      const pointers = shares.map(() => [0, 1, 2, 3].map(() => scratch.floats(simd, C)));
      const at = [dy, x, mean].map((t) => offsetOf(backend, t));
      simd.run(
        'bnSums',
        shares.map(([from, to], i) => [...at, from, to, C, ...pointers[i]]),
      );
      for (const [total1, total2] of pointers) {
        const first = new Float32Array(simd.memory.buffer, total1, C);
        const second = new Float32Array(simd.memory.buffer, total2, C);
        for (let c = 0; c < C; c++) {
          sums[c] += first[c];
          sums[C + c] += second[c];
        }
      }
      view(simd, backend, result).set(sums);
    } finally {
      scratch.release();
    }
    countSimdCall('bnSums');
  });
}

/**
 * ProjectBatchNormDx (BATCHNORM_DX_KERNEL) on wasm: dx = dy·a + (x − mean)·b + c per channel in one SIMD pass
 * (buildBatchNormDxFunction), rows split over the threads; a JavaScript loop where SIMD does not fit.
 */
export function batchNormDxSimd(args: KernelArgs): tf.TensorInfo {
  const { dy, x, mean, a, b, c } = args.inputs as Record<string, tf.TensorInfo>;
  checkBatchNormInputs('ProjectBatchNormDx', x, dy, [mean, a, b, c]);
  const backend = args.backend as unknown as WasmHeapBackend;
  const simd = batchNormSimdFits(x) ? simdModuleFor(backend) : null;
  const C = x.shape[x.shape.length - 1];
  const rows = tf.util.sizeFromShape(x.shape) / C;
  const heap = args.backend as unknown as { typedArrayFromHeap(t: tf.TensorInfo): Float32Array };
  return withOutput(args, [...x.shape], (result) => {
    if (simd == null) {
      const [d, v, m, av, bv, cv, o] = [dy, x, mean, a, b, c, result].map((t) => heap.typedArrayFromHeap(t));
      for (let i = 0, ch = 0; i < d.length; i++, ch = ch + 1 === C ? 0 : ch + 1) {
        o[i] = d[i] * av[ch] + (v[i] - m[ch]) * bv[ch] + cv[ch];
      }
      return;
    }
    const [dyAt, xAt, outAt] = [dy, x, result].map((t) => offsetOf(backend, t));
    const [A, B, M, K] = [a, b, mean, c].map((t) => offsetOf(backend, t));
    simd.run(
      'bnDx',
      splitTiles(rows, simd.threads).map(([from, to]) => [dyAt, xAt, outAt, from, to, C, A, B, M, K]),
    );
    countSimdCall('bnDx');
  });
}

/**
 * ProjectMoments (MOMENTS_KERNEL) on wasm: per-channel mean and biased variance of x [..., C] over every axis but the
 * last in two SIMD passes, Σ x (sumRows) and then Σ x·(x − mean) (the bnSums kernel with dy = x; that is
 * Σ (x − mean)² + mean·Σ (x − mean), and the second term is zero up to rounding), totals in float64. tf.moments
 * takes four passes and two full-size temporaries (x − mean, its square). A JavaScript loop (float64) where SIMD
 * does not fit.
 */
export function momentsSimd(args: KernelArgs): tf.TensorInfo[] {
  const x = args.inputs.x as tf.TensorInfo;
  if (x.dtype !== 'float32' || x.shape.length < 1) {
    throw new Error(`ProjectMoments: expects a float32 x [..., C], got ${x.dtype} [${x.shape.join(', ')}]`);
  }
  const C = x.shape[x.shape.length - 1];
  const rows = tf.util.sizeFromShape(x.shape) / C;
  const backend = args.backend as unknown as WasmHeapBackend;
  const heap = args.backend as unknown as { typedArrayFromHeap(t: tf.TensorInfo): Float32Array };
  const simd = batchNormSimdFits(x) ? simdModuleFor(backend) : null;
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  if (simd == null) {
    const v = heap.typedArrayFromHeap(x);
    for (let i = 0, c = 0; i < v.length; i++, c = c + 1 === C ? 0 : c + 1) mean[c] += v[i];
    for (let c = 0; c < C; c++) mean[c] /= rows;
    for (let i = 0, c = 0; i < v.length; i++, c = c + 1 === C ? 0 : c + 1)
      variance[c] += (v[i] - mean[c]) ** 2;
    for (let c = 0; c < C; c++) variance[c] /= rows;
  } else {
    const scratch = new Scratch(backend);
    try {
      const shares = splitTiles(rows, simd.threads);
      const xAt = offsetOf(backend, x);
      const sums = shares.map(() => [scratch.floats(simd, C), scratch.floats(simd, C)]);
      simd.run(
        'sumRows',
        shares.map(([from, to], i) => [xAt, from, to, C, ...sums[i]]),
      );
      for (const [total] of sums) {
        const partial = new Float32Array(simd.memory.buffer, total, C);
        for (let c = 0; c < C; c++) mean[c] += partial[c];
      }
      for (let c = 0; c < C; c++) mean[c] /= rows;
      const meanAt = scratch.floats(simd, C, mean);
      const squares = shares.map(() => [0, 1, 2, 3].map(() => scratch.floats(simd, C)));
      simd.run(
        'bnSums',
        shares.map(([from, to], i) => [xAt, xAt, meanAt, from, to, C, ...squares[i]]),
      );
      for (const [, total2] of squares) {
        const partial = new Float32Array(simd.memory.buffer, total2, C);
        for (let c = 0; c < C; c++) variance[c] += partial[c];
      }
      for (let c = 0; c < C; c++) variance[c] /= rows;
    } finally {
      scratch.release();
    }
    countSimdCall('moments');
  }
  const outputs = [mean, variance].map((values) => {
    const out = backend.makeOutput([C], 'float32');
    heap.typedArrayFromHeap(out).set(values);
    return out;
  });
  return outputs;
}
