import * as tf from '@tensorflow/tfjs';
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import type { KernelArgs } from '../backend_ops';
import { int32Uniforms, reshapeOnBackend, runProgram, SumSplitsProgram } from './program';

/**
 * Sum and Mean over the leading axes of a tensor (x viewed as [M, C], reduced over M), the reductions of
 * BatchNorm: its forward moments (Mean over N, H, W) and the Σ dy, Σ dy·(x − mean) of its gradient.
 *
 * The stock tfjs kernel wants the reduced axes innermost, so it first transposes the whole tensor to [C, M] (a
 * full copy), then runs one workgroup per output: C workgroups, e.g. 32, each walking 2·256·32·32 values for a
 * batch-256 ResNet stem, which leaves most of a GPU idle. Here pass 1 splits the rows into S chunks and gives
 * every (chunk, column) pair a thread (consecutive threads read consecutive columns of a row: coalesced), writing
 * partial sums [S, C]; pass 2 (SumSplitsProgram) adds the S partials per column and scales by 1/M for a mean.
 */
class ColumnPartialSumProgram implements WebGPUProgram {
  variableNames = ['x'];
  outputShape: number[];
  shaderKey = 'projectColumnPartialSum';
  dispatchLayout = { x: [0, 1] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [64, 1, 1];
  size = true;
  uniforms = 'rows : i32, cols : i32, chunk : i32,';

  constructor(splits: number, cols: number) {
    this.outputShape = [splits, cols];
    this.dispatch = [Math.ceil((splits * cols) / this.workgroupSize[0]), 1, 1];
  }

  getUserCode(): string {
    return `
    fn main(index : i32) {
      if (index < uniforms.size) {
        let column = index % uniforms.cols;
        let start = (index / uniforms.cols) * uniforms.chunk;
        let end = min(start + uniforms.chunk, uniforms.rows);
        var sum = 0.0;
        for (var row = start; row < end; row = row + 1) {
          sum = sum + x[row * uniforms.cols + column];
        }
        result[index] = sum;
      }
    }
    `;
  }
}

/** Threads pass 1 aims for: enough to fill a GPU; fewer when the rows run out (at least MIN_CHUNK rows each). */
const TARGET_THREADS = 65536;
const MIN_CHUNK = 32;

/** How many row chunks pass 1 uses for an [rows, cols] reduction, and the rows per chunk. */
export function columnSplits(rows: number, cols: number): { splits: number; chunk: number } {
  const wanted = Math.max(1, Math.min(Math.ceil(TARGET_THREADS / cols), Math.ceil(rows / MIN_CHUNK)));
  const chunk = Math.ceil(rows / wanted);
  return { splits: Math.ceil(rows / chunk), chunk };
}

/**
 * The number of leading axes `axis` reduces when they are exactly 0..k−1 with 0 < k < rank, else null (the
 * stock kernel then runs: a trailing or full reduction is already what it is built for).
 */
export function leadingReducedAxes(shape: number[], axis: number | number[]): number | null {
  const axes = [...new Set(tf.util.parseAxisParam(axis, shape))].sort((a, b) => a - b);
  if (axes.length === 0 || axes.length >= shape.length) return null;
  return axes.every((a, i) => a === i) ? axes.length : null;
}

function reduceLeading(args: KernelArgs, mean: boolean): tf.TensorInfo | null {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
  if (x.dtype !== 'float32') return null;
  const k = leadingReducedAxes(x.shape, axis);
  if (k === null) return null;
  const rows = x.shape.slice(0, k).reduce((a, b) => a * b, 1);
  const kept = x.shape.slice(k);
  const cols = kept.reduce((a, b) => a * b, 1);
  if (rows === 0 || cols === 0) return null;
  const { splits, chunk } = columnSplits(rows, cols);
  const partial = runProgram(
    args.backend,
    new ColumnPartialSumProgram(splits, cols),
    [x],
    int32Uniforms([rows, cols, chunk]),
  );
  let summed: tf.TensorInfo;
  try {
    const uniforms = [
      { type: 'int32' as const, data: [splits] },
      ...(mean ? [{ type: 'float32' as const, data: [1 / rows] }] : []),
    ];
    summed = runProgram(args.backend, new SumSplitsProgram([cols], mean), [partial], uniforms);
  } finally {
    args.backend.disposeData(partial.dataId);
  }
  const outShape = keepDims ? [...x.shape.slice(0, k).map(() => 1), ...kept] : kept;
  try {
    return reshapeOnBackend(args.backend, summed, outShape);
  } finally {
    args.backend.disposeData(summed.dataId);
  }
}

/** Kernel: Sum over leading axes (null: not that case, run the stock kernel). */
export function sumLeadingAxesWebGPU(args: KernelArgs): tf.TensorInfo | null {
  return reduceLeading(args, false);
}

/** Kernel: Mean over leading axes (null: not that case, run the stock kernel). */
export function meanLeadingAxesWebGPU(args: KernelArgs): tf.TensorInfo | null {
  return reduceLeading(args, true);
}
