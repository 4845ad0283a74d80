import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';

/**
 * OneHot for a float32 output, filled in JavaScript. tfjs-backend-wasm's OneHot (4.22) writes int32 values whatever
 * the requested dtype, so `tf.oneHot(i, n, 1, 0, 'float32')` on wasm returns the bit patterns of the integers read
 * as floats (1 -> 1.4e-45, -1e9 -> NaN): masks built that way (the losses' self-similarity mask, uniformity's
 * diagonal) silently did nothing. The indices are small and already in host memory on wasm, so one pass in JS
 * costs less than a second kernel to fix the dtype up. Returns null for other dtypes (the stock kernel is right
 * for int32).
 */
export function oneHotFloat32(args: KernelArgs): tf.TensorInfo | null {
  const { depth, onValue, offValue, dtype } = args.attrs as unknown as tf.OneHotAttrs;
  if (dtype !== 'float32') return null;
  const indices = args.inputs.indices as tf.TensorInfo;
  const ids = args.backend.readSync(indices.dataId) as ArrayLike<number>;
  const out = new Float32Array(ids.length * depth);
  if (offValue !== 0) out.fill(offValue);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    // out-of-range indices give an all-off row, as in tfjs' cpu kernel and TensorFlow
    if (id >= 0 && id < depth) out[i * depth + id] = onValue;
  }
  const shape = [...indices.shape, depth];
  return { dataId: args.backend.write(out, shape, 'float32'), shape, dtype: 'float32' };
}
