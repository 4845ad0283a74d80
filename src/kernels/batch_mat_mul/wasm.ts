import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';
import { conv2dSimd } from '../conv2d/wasm';
import { conv2dBackpropFilterSimd } from '../conv2d_backprop_filter/wasm';
import type { WasmHeapBackend } from '../wasm/runtime';

/** The same heap data under another shape (a reshape: no copy, no new reference). */
function relabel(t: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

/**
 * BatchMatMul of one matrix pair (every batch dimension 1) on the wasm backend through the project's SIMD
 * convolution kernels: A·B and A·Bᵀ as a 1x1 convolution of A's rows (Bᵀ transposed first, in JavaScript: a
 * weight-sized copy), Aᵀ·B as a 1x1 convolution's filter gradient (Σ over the shared rows of A[k]ᵀ ⊗ B[k]).
 * tfjs-backend-wasm sends every transposed product (all of a dense layer's gradients) to a naive loop: 13 ms for
 * [128, 512]ᵀ x [128, 128] in a W2 step, ~1.3 GFLOP/s. Returns null (the stock kernel) for batched products,
 * Aᵀ·Bᵀ, non-float32, or shapes the convolution kernels leave alone (fewer than 4 rows, N not a multiple of 8 for
 * A·B).
 */
export function batchMatMulSimd(args: KernelArgs): tf.TensorInfo | null {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return null;
  if (transposeA && transposeB) return null;
  const batchOfOne = (t: tf.TensorInfo) => t.shape.slice(0, -2).every((d) => d === 1);
  if (!batchOfOne(a) || !batchOfOne(b)) return null;
  const [aRows, aCols] = a.shape.slice(-2);
  const [bRows, bCols] = b.shape.slice(-2);
  const [M, K] = transposeA ? [aCols, aRows] : [aRows, aCols];
  const [K2, N] = transposeB ? [bCols, bRows] : [bRows, bCols];
  if (K !== K2) return null; // the stock kernel reports the mismatch
  const outShape = [...Array(Math.max(a.shape.length, b.shape.length) - 2).fill(1), M, N];

  if (transposeA) {
    const grad = conv2dBackpropFilterSimd({
      inputs: { x: relabel(a, [1, 1, K, M]), dy: relabel(b, [1, 1, K, N]) },
      backend: args.backend,
      attrs: {
        strides: [1, 1],
        pad: 'valid',
        dataFormat: 'NHWC',
        filterShape: [1, 1, M, N],
      } as unknown as tf.NamedAttrMap,
    });
    return grad == null ? null : relabel(grad, outShape);
  }
  if (M < 4 || N % 8 !== 0) return null;
  const backend = args.backend as unknown as WasmHeapBackend;
  // Bᵀ as a [K, N] tensor when B comes as [N, K]
  let filter = b;
  let transposed: tf.TensorInfo | null = null;
  if (transposeB) {
    transposed = backend.makeOutput([K, N], 'float32');
    const heap = args.backend as unknown as { typedArrayFromHeap(t: tf.TensorInfo): Float32Array };
    const from = heap.typedArrayFromHeap(b);
    const to = heap.typedArrayFromHeap(transposed);
    for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) to[k * N + n] = from[n * K + k];
    filter = transposed;
  }
  try {
    // rows of A as 4-pixel images where M allows (the convolution splits images over the threads)
    const x = relabel(a, M % 4 === 0 ? [M / 4, 1, 4, K] : [1, 1, M, K]);
    const out = conv2dSimd({
      inputs: { x, filter: relabel(filter, [1, 1, K, N]) },
      backend: args.backend,
      attrs: {
        strides: [1, 1],
        pad: 'valid',
        dataFormat: 'NHWC',
        dilations: [1, 1],
      } as unknown as tf.NamedAttrMap,
    });
    return out == null ? null : relabel(out, outShape);
  } finally {
    if (transposed != null) args.backend.disposeData(transposed.dataId);
  }
}
