import * as tf from '@tensorflow/tfjs';
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import type { KernelArgs } from '../backend_ops';
import { reduceSmallInner } from '../webgpu/inner_reduce';
import {
  columnSplits,
  int32Uniforms,
  reshapeOnBackend,
  runProgram,
  SumSplitsProgram,
} from '../webgpu/program';

/**
 * Sum and Mean where the stock tfjs kernel (one 64..512-thread workgroup per output value, reduced axes moved
 * innermost by a full transpose first) wastes most of its work:
 *
 * 1. Over the leading axes of a tensor (x viewed as [M, C], reduced over M), the reductions of
 * BatchNorm: its forward moments (Mean over N, H, W) and the Σ dy, Σ dy·(x − mean) of its gradient; likewise
 * over a run of middle axes (x viewed as [B, M, C], e.g. the kNN's class scores [queries, k, classes] summed
 * over the k neighbours).
 *
 * The stock tfjs kernel wants the reduced axes innermost, so it first transposes the whole tensor to [C, M] (a
 * full copy), then runs one workgroup per output: C workgroups, e.g. 32, each walking 2·256·32·32 values for a
 * batch-256 ResNet stem, which leaves most of a GPU idle. Here pass 1 splits the rows into S chunks and gives
 * every (chunk, column) pair a thread (consecutive threads read consecutive columns of a row: coalesced), writing
 * partial sums [S, C] ([S, B, C]); pass 2 (SumSplitsProgram) adds the S partials per column and scales by 1/M for a mean.
 *
 * 2. Over a few innermost values: webgpu/inner_reduce.ts.
 */
class ColumnPartialSumProgram implements WebGPUProgram {
  variableNames = ['x'];
  outputShape: number[];
  shaderKey = 'projectColumnPartialSum';
  dispatchLayout = { x: [0, 1, 2] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [64, 1, 1];
  size = true;
  uniforms = 'rows : i32, cols : i32, chunk : i32, outer : i32,';

  constructor(splits: number, outer: number, cols: number) {
    this.outputShape = [splits, outer, cols];
    this.dispatch = [Math.ceil((splits * outer * cols) / this.workgroupSize[0]), 1, 1];
  }

  getUserCode(): string {
    // x viewed as [outer, rows, cols]; thread (split, o, column) sums rows [split · chunk, + chunk) of block o
    return `
    fn main(index : i32) {
      if (index < uniforms.size) {
        let column = index % uniforms.cols;
        let block = (index / uniforms.cols) % uniforms.outer;
        let start = (index / (uniforms.cols * uniforms.outer)) * uniforms.chunk;
        let end = min(start + uniforms.chunk, uniforms.rows);
        let offset = block * uniforms.rows * uniforms.cols + column;
        var sum = 0.0;
        for (var row = start; row < end; row = row + 1) {
          sum = sum + x[offset + row * uniforms.cols];
        }
        result[index] = sum;
      }
    }
    `;
  }
}

/**
 * The reduced axes as a run first..first+count−1 of consecutive axes that stops short of the last axis (x is
 * then [outer, rows, cols] with the rows reduced and cols > 0 values per row kept), else null: scattered axes,
 * or a run that includes the last axis (the small-inner kernel's or the stock kernel's case).
 */
export function reducedRun(
  shape: number[],
  axis: number | number[],
): { first: number; count: number } | null {
  const axes = [...new Set(tf.util.parseAxisParam(axis, shape))].sort((a, b) => a - b);
  if (axes.length === 0 || axes[axes.length - 1] >= shape.length - 1) return null;
  return axes.every((a, i) => a === axes[0] + i) ? { first: axes[0], count: axes.length } : null;
}

/**
 * Sum or Mean over a run of axes that is not trailing: leading (BatchNorm's N, H, W) or in the middle (the kNN's
 * class scores, [queries, k, classes] summed over k). x is viewed as [outer, rows, cols] and reduced over rows.
 */
function reduceColumns(args: KernelArgs, mean: boolean): tf.TensorInfo | null {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
  if (x.dtype !== 'float32') return null;
  const run = reducedRun(x.shape, axis);
  if (run === null) return null;
  const product = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
  const outer = product(x.shape.slice(0, run.first));
  const rows = product(x.shape.slice(run.first, run.first + run.count));
  const kept = [...x.shape.slice(0, run.first), ...x.shape.slice(run.first + run.count)];
  const cols = product(x.shape.slice(run.first + run.count));
  if (rows === 0 || cols === 0 || outer === 0) return null;
  const { splits, chunk } = columnSplits(rows, outer * cols);
  const partial = runProgram(
    args.backend,
    new ColumnPartialSumProgram(splits, outer, cols),
    [x],
    int32Uniforms([rows, cols, chunk, outer]),
  );
  let summed: tf.TensorInfo;
  try {
    const uniforms = [
      { type: 'int32' as const, data: [splits] },
      ...(mean ? [{ type: 'float32' as const, data: [1 / rows] }] : []),
    ];
    summed = runProgram(args.backend, new SumSplitsProgram([outer * cols], mean), [partial], uniforms);
  } finally {
    args.backend.disposeData(partial.dataId);
  }
  const outShape = keepDims
    ? x.shape.map((d, i) => (i >= run.first && i < run.first + run.count ? 1 : d))
    : kept;
  try {
    return reshapeOnBackend(args.backend, summed, outShape);
  } finally {
    args.backend.disposeData(summed.dataId);
  }
}

/** Kernel: Sum over non-trailing axes or a few innermost values (null: neither case, run the stock kernel). */
export function sumWebGPU(args: KernelArgs): tf.TensorInfo | null {
  const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
  const x = (args.inputs as { x: tf.TensorInfo }).x;
  return reduceColumns(args, false) ?? reduceSmallInner(x, axis, keepDims, 'sum', args.backend);
}

/** Kernel: Mean over non-trailing axes or a few innermost values (null: neither case, run the stock kernel). */
export function meanWebGPU(args: KernelArgs): tf.TensorInfo | null {
  const { axis, keepDims } = args.attrs as unknown as tf.MeanAttrs;
  const x = (args.inputs as { x: tf.TensorInfo }).x;
  return reduceColumns(args, true) ?? reduceSmallInner(x, axis, keepDims, 'mean', args.backend);
}
