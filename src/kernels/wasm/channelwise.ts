import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';
import { FunctionBuilder, I32, L, V128 } from './assembler';
import { locals } from './program';
import { countSimdCall, splitTiles, type SimdModule, type WasmHeapBackend } from './runtime';

// The kernels over a tensor viewed as [rows, C], four channels at a time, that several ops share: the body
// (BatchNorm's normalisation for FusedBatchNorm, a per-channel product, sum or difference for Multiply, Add and
// Sub, a per-channel vector repeated over the rows for Tile) and the JavaScript helpers of the channelwise wasm
// kernels (Sum and Mean over leading axes and the BatchNorm training kernels use them too).

/** The per-element operations of the channelwise kernels: v is x[row, c..c+3]; P, Q, R are [C] vectors. */
export const CHANNELWISE_OPS = {
  /** BatchNorm with precomputed per-channel factors: (v − mean) · (scale / √(var + ε)) + offset. */
  batchNorm: 'batchNorm',
  mul: 'mul',
  add: 'add',
  /** v − P */
  sub: 'sub',
  /** P − v */
  rsub: 'rsub',
  /** P (x unread: a per-channel vector repeated over the rows) */
  broadcast: 'broadcast',
} as const;
export type ChannelwiseOp = keyof typeof CHANNELWISE_OPS;

/**
 * `op(x, out, from, to, C, P, Q, R)`, all i32 (pointers in bytes): for rows in [from, to) of x viewed as [rows, C]
 * (C a multiple of 4), out[row, c] = op(x[row, c], P[c], Q[c], R[c]) four channels at a time. Memory-bound; what
 * matters is one pass with vector loads and stores instead of tfjs-backend-wasm's broadcasting element loops.
 */
export function buildChannelwiseFunction(op: ChannelwiseOp): FunctionBuilder {
  const f = new FunctionBuilder(Array.from({ length: 8 }, () => I32));
  const [x, out, from, to, C, P, Q, R] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [row, rowBytes, xp, op_, cb, end] = locals(f, 6);
  const v = f.local(V128);
  const param = (pointer: number) => f.get(pointer).get(cb).op('i32.add').v128Load(0);
  f.get(C).i32(2).op('i32.shl').set(rowBytes);
  f.forRange(row, L(from), L(to), 1, () => {
    f.get(x).get(row).get(rowBytes).op('i32.mul', 'i32.add').set(xp);
    f.get(out).get(row).get(rowBytes).op('i32.mul', 'i32.add').set(op_);
    f.i32(0).set(cb);
    f.get(rowBytes).set(end);
    f.loop(() => {
      if (op !== 'broadcast') f.get(xp).get(cb).op('i32.add').v128Load(0).set(v);
      f.get(op_).get(cb).op('i32.add');
      switch (op) {
        case 'broadcast':
          param(P);
          break;
        case 'batchNorm':
          f.get(v);
          param(P).op('f32x4.sub');
          param(Q).op('f32x4.mul');
          param(R).op('f32x4.add');
          break;
        case 'mul':
          f.get(v);
          param(P).op('f32x4.mul');
          break;
        case 'add':
          f.get(v);
          param(P).op('f32x4.add');
          break;
        case 'sub':
          f.get(v);
          param(P).op('f32x4.sub');
          break;
        case 'rsub':
          param(P).get(v).op('f32x4.sub');
          break;
      }
      f.v128Store(0);
      f.get(cb).i32(16).op('i32.add').tee(cb).get(end).op('i32.ne').brIf(0);
    });
  });
  return f;
}

/** Below this many elements the stock kernels are as fast (and the SIMD module need not be made). */
export const MIN_ELEMENTS = 4096;

/** Makes the output, runs `fill` on it, and disposes it if `fill` throws. */
export function withOutput(
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

export function offsetOf(backend: WasmHeapBackend, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId)!.memoryOffset;
}

/** A float32 view of a tensor in the heap (take it after any allocation: a heap growth replaces the buffer). */
export function heapView(simd: SimdModule, backend: WasmHeapBackend, t: tf.TensorInfo): Float32Array {
  return new Float32Array(simd.memory.buffer, offsetOf(backend, t), tf.util.sizeFromShape(t.shape));
}

/** True when `t` holds one value per channel of `full` (shape [C], [1, C], [1, 1, 1, C], ...). */
export function isPerChannel(t: tf.TensorInfo, full: tf.TensorInfo): boolean {
  const C = full.shape[full.shape.length - 1];
  return (
    t.shape.length >= 1 &&
    t.shape.length <= full.shape.length &&
    t.shape[t.shape.length - 1] === C &&
    t.shape.slice(0, -1).every((d) => d === 1)
  );
}

/** Runs a channelwise kernel over x viewed as [rows, C], rows split over the module's threads. */
export function runChannelwise(
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
