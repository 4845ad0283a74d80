import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';
import { MIN_ELEMENTS, offsetOf, runChannelwise, withOutput } from '../wasm/channelwise';
import type { WasmHeapBackend } from '../wasm/runtime';
import { simdModuleFor } from '../wasm_module';

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
