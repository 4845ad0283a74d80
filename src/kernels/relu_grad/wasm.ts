import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';
import { RELU_GRAD_KERNEL } from '../ops';
import { countSimdCall, splitTiles, type WasmHeapBackend } from '../wasm/runtime';
import { simdModuleFor } from '../wasm_module';

/**
 * RELU_GRAD_KERNEL on wasm: dy · step(x) in one SIMD pass split over the threads (the last size % 4 values in
 * JavaScript, Math.fround: the same float32 product); where the engine has no SIMD, all of it in JavaScript.
 * Throws for mismatched shapes or non-float32 inputs (the Relu gradient only calls it for float32).
 */
export function reluGradWasm(args: KernelArgs): tf.TensorInfo {
  const { dy, x } = args.inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
  if (dy.shape.join(',') !== x.shape.join(',')) {
    throw new Error(
      `${RELU_GRAD_KERNEL}: dy has shape [${dy.shape.join(', ')}], x has [${x.shape.join(', ')}]`,
    );
  }
  if (dy.dtype !== 'float32' || x.dtype !== 'float32') {
    throw new Error(`${RELU_GRAD_KERNEL}: float32 tensors only, got ${dy.dtype} and ${x.dtype}`);
  }
  const backend = args.backend as unknown as WasmHeapBackend;
  const heap = args.backend as unknown as { typedArrayFromHeap(t: tf.TensorInfo): Float32Array };
  const simd = simdModuleFor(backend);
  const size = tf.util.sizeFromShape(x.shape);
  const out = backend.makeOutput([...x.shape], 'float32');
  const vectors = simd == null ? 0 : size - (size % 4);
  if (simd != null && vectors > 0) {
    const at = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
    const shares = splitTiles(vectors / 4, simd.threads).map(([a, b]) => [
      at(dy),
      at(x),
      at(out),
      a * 4,
      b * 4,
    ]);
    simd.run('reluGrad', shares);
    countSimdCall('reluGrad');
  }
  const [dyv, xv, outv] = [dy, x, out].map((t) => heap.typedArrayFromHeap(t));
  for (let i = vectors; i < size; i++) {
    outv[i] = Math.fround(dyv[i] * (Number.isNaN(xv[i]) ? Number.NaN : xv[i] > 0 ? 1 : 0));
  }
  return out;
}
