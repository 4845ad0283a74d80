import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';
import {
  isPerChannel,
  MIN_ELEMENTS,
  offsetOf,
  runChannelwise,
  withOutput,
  type ChannelwiseOp,
} from '../wasm/channelwise';
import type { WasmHeapBackend } from '../wasm/runtime';
import { simdModuleFor } from '../wasm_module';

/** Above this many elements channelBinary's JavaScript loop leaves a broadcast to the stock kernel. */
const MAX_LOOP_ELEMENTS = 1 << 17;

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
