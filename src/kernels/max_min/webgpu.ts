import type * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';
import { reduceSmallInner } from '../webgpu/inner_reduce';

/** Kernel: Max over a few innermost values (null: other cases, run the stock kernel). */
export function maxWebGPU(args: KernelArgs): tf.TensorInfo | null {
  const { reductionIndices, keepDims } = args.attrs as unknown as tf.MaxAttrs;
  return reduceSmallInner(
    (args.inputs as { x: tf.TensorInfo }).x,
    reductionIndices,
    keepDims,
    'max',
    args.backend,
  );
}

/** Kernel: Min over a few innermost values (null: other cases, run the stock kernel). */
export function minWebGPU(args: KernelArgs): tf.TensorInfo | null {
  const { axis, keepDims } = args.attrs as unknown as tf.MinAttrs;
  return reduceSmallInner((args.inputs as { x: tf.TensorInfo }).x, axis, keepDims, 'min', args.backend);
}
