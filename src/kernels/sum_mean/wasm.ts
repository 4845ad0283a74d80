import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';
import { heapView, MIN_ELEMENTS, offsetOf, withOutput } from '../wasm/channelwise';
import { countSimdCall, splitTiles, type WasmHeapBackend } from '../wasm/runtime';
import { Scratch } from '../wasm/scratch';
import { simdModuleFor } from '../wasm_module';
import { leadingReduction } from './gradient';

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
        const target = heapView(simd, backend, result);
        for (let c = 0; c < C; c++) target[c] = sums[c] / divisor;
      } finally {
        scratch.release();
      }
    });
    countSimdCall('sumRows');
    return out;
  };
}
