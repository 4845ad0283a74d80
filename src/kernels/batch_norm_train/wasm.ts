import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';
import { BATCHNORM_DX_KERNEL, BATCHNORM_GRAD_SUMS_KERNEL, MOMENTS_KERNEL } from '../ops';
import { heapView, isPerChannel, MIN_ELEMENTS, offsetOf, withOutput } from '../wasm/channelwise';
import { countSimdCall, splitTiles, type WasmHeapBackend } from '../wasm/runtime';
import { Scratch } from '../wasm/scratch';
import { simdModuleFor } from '../wasm_module';

// BatchNorm's training-mode kernels on wasm (src/kernels/ops.ts: ProjectBatchNormGradSums, ProjectBatchNormDx,
// ProjectMoments), on the bodies of wasm_body.ts and sum_mean's sumRows.

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
  checkBatchNormInputs(BATCHNORM_GRAD_SUMS_KERNEL, x, dy, [mean]);
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
      heapView(simd, backend, result).set(sums);
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
  checkBatchNormInputs(BATCHNORM_DX_KERNEL, x, dy, [mean, a, b, c]);
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
    throw new Error(
      `${MOMENTS_KERNEL}: expects a float32 x [..., C], got ${x.dtype} [${x.shape.join(', ')}]`,
    );
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
