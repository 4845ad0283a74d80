import type * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';

/**
 * Identity (tf.clone) for wasm as a new reference to the same heap memory, the way the cpu backend does it and the
 * way wasm's own Reshape does: tfjs tensors are immutable and the wasm backend frees memory when the last reference
 * goes. The stock wasm kernel copies the whole tensor, and tfjs clones every tensor a gradient saves for the
 * backward pass (Engine.saveTensorsForBackwardMode): 426 copies, 70-90 ms of a W2 step. Strings: the stock kernel.
 */
export function identityShared(args: KernelArgs): tf.TensorInfo | null {
  const x = args.inputs.x as tf.TensorInfo;
  if (x.dtype === 'string') return null;
  (args.backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

/**
 * Cast to the dtype a tensor already has (tf.moments casts its input to float32 before squaring: every BatchNorm
 * layer's activation, every step) as a new reference, like identityShared; the stock wasm kernel copies. Real
 * conversions: null (the stock kernel).
 */
export function castShared(args: KernelArgs): tf.TensorInfo | null {
  const x = args.inputs.x as tf.TensorInfo;
  const { dtype } = args.attrs as unknown as tf.CastAttrs;
  return dtype === x.dtype ? identityShared(args) : null;
}
