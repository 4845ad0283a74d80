import * as tf from '@tensorflow/tfjs';
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import type { KernelArgs } from '../backend_ops';
import { int32Uniforms, reshapeOnBackend, runProgram, SumSplitsProgram } from './program';

/**
 * Reductions where the stock tfjs kernel (one 64..512-thread workgroup per output value, reduced axes moved
 * innermost by a full transpose first) wastes most of its work:
 *
 * 1. Sum and Mean over the leading axes of a tensor (x viewed as [M, C], reduced over M), the reductions of
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
 * 2. Sum, Mean, Max and Min over a few innermost values (at most SMALL_INNER, e.g. the 3 colour channels the
 * colour-jitter augmentations reduce per pixel): the stock kernel spends a 64-thread workgroup with barriers on
 * each pixel's 3 values; InnerReduceProgram gives each output one thread and a short loop.
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

type InnerOp = 'sum' | 'mean' | 'max' | 'min';

/** x viewed as [outSize, inner], reduced over `inner`; one thread per output. NaN propagates through max/min. */
class InnerReduceProgram implements WebGPUProgram {
  variableNames = ['x'];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [64, 1, 1];
  size = true;
  uniforms = 'inner : i32,';

  constructor(
    outSize: number,
    private readonly op: InnerOp,
  ) {
    this.outputShape = [outSize];
    this.shaderKey = `projectInnerReduce_${op}`;
    this.dispatch = [Math.ceil(outSize / this.workgroupSize[0]), 1, 1];
  }

  getUserCode(): string {
    const first = 'x[index * uniforms.inner]';
    const init = this.op === 'sum' || this.op === 'mean' ? '0.0' : first;
    const start = this.op === 'sum' || this.op === 'mean' ? '0' : '1';
    const step =
      this.op === 'sum' || this.op === 'mean'
        ? 'acc = acc + v;'
        : `if (isnan(v) || isnan(acc)) { acc = v + acc; } else if (v ${this.op === 'max' ? '>' : '<'} acc) { acc = v; }`;
    return `
    fn main(index : i32) {
      if (index < uniforms.size) {
        var acc = ${init};
        for (var i = ${start}; i < uniforms.inner; i = i + 1) {
          let v = x[index * uniforms.inner + i];
          ${step}
        }
        result[index] = acc${this.op === 'mean' ? ' / f32(uniforms.inner)' : ''};
      }
    }
    `;
  }
}

/** Largest inner size the one-thread-per-output kernel takes; above it the stock workgroup reduction is apt. */
export const SMALL_INNER = 64;

/**
 * The number of trailing axes `axis` reduces when they are exactly rank−k..rank−1 (k ≥ 1, possibly all axes),
 * else null.
 */
export function trailingReducedAxes(shape: number[], axis: number | number[]): number | null {
  const axes = [...new Set(tf.util.parseAxisParam(axis, shape))].sort((a, b) => a - b);
  if (axes.length === 0) return null;
  const first = shape.length - axes.length;
  return axes.every((a, i) => a === first + i) ? axes.length : null;
}

function reduceSmallInner(
  x: tf.TensorInfo,
  axis: number | number[],
  keepDims: boolean,
  op: InnerOp,
  backend: tf.KernelBackend,
): tf.TensorInfo | null {
  if (x.dtype !== 'float32') return null;
  const k = trailingReducedAxes(x.shape, axis);
  if (k === null) return null;
  const kept = x.shape.slice(0, x.shape.length - k);
  const inner = x.shape.slice(x.shape.length - k).reduce((a, b) => a * b, 1);
  const outSize = kept.reduce((a, b) => a * b, 1);
  if (inner === 0 || inner > SMALL_INNER || outSize === 0) return null;
  const reduced = runProgram(backend, new InnerReduceProgram(outSize, op), [x], int32Uniforms([inner]));
  const outShape = keepDims ? [...kept, ...x.shape.slice(kept.length).map(() => 1)] : kept;
  try {
    return reshapeOnBackend(backend, reduced, outShape);
  } finally {
    backend.disposeData(reduced.dataId);
  }
}

/**
 * Pass 1 of the BatchNorm gradient sums: partial [S, 2, C] = per row chunk, [Σ dy; Σ dy·(x − mean)] of columns
 * (the same chunking and coalesced reads as ColumnPartialSumProgram, two accumulators).
 */
class BatchNormGradPartialSumsProgram implements WebGPUProgram {
  variableNames = ['dy', 'x', 'mean'];
  outputShape: number[];
  shaderKey = 'projectBatchNormGradPartialSums';
  dispatchLayout = { x: [0, 1, 2] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [64, 1, 1];
  uniforms = 'rows : i32, cols : i32, chunk : i32, threads : i32,';

  constructor(splits: number, cols: number) {
    this.outputShape = [splits, 2, cols];
    this.dispatch = [Math.ceil((splits * cols) / this.workgroupSize[0]), 1, 1];
  }

  getUserCode(): string {
    return `
    fn main(index : i32) {
      if (index < uniforms.threads) {
        let column = index % uniforms.cols;
        let split = index / uniforms.cols;
        let start = split * uniforms.chunk;
        let end = min(start + uniforms.chunk, uniforms.rows);
        let centre = mean[column];
        var sumDy = 0.0;
        var sumDyCentred = 0.0;
        for (var row = start; row < end; row = row + 1) {
          let offset = row * uniforms.cols + column;
          let g = dy[offset];
          sumDy = sumDy + g;
          sumDyCentred = sumDyCentred + g * (x[offset] - centre);
        }
        result[(split * 2) * uniforms.cols + column] = sumDy;
        result[(split * 2 + 1) * uniforms.cols + column] = sumDyCentred;
      }
    }
    `;
  }
}

/** Kernel BATCHNORM_GRAD_SUMS_KERNEL: [Σ dy; Σ dy·(x − mean)] [2, C] over every axis of x [..., C] but the last. */
export function batchNormGradSumsWebGPU(args: KernelArgs): tf.TensorInfo {
  const { dy, x, mean } = args.inputs as { dy: tf.TensorInfo; x: tf.TensorInfo; mean: tf.TensorInfo };
  const cols = x.shape[x.shape.length - 1];
  if (mean.shape.length !== 1 || mean.shape[0] !== cols || dy.shape.join() !== x.shape.join()) {
    throw new Error(
      `ProjectBatchNormGradSums needs dy and x of one shape [..., C] and mean [C]; got dy [${dy.shape.join(', ')}], ` +
        `x [${x.shape.join(', ')}], mean [${mean.shape.join(', ')}]`,
    );
  }
  const rows = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const { splits, chunk } = columnSplits(rows, cols);
  const partial = runProgram(
    args.backend,
    new BatchNormGradPartialSumsProgram(splits, cols),
    [dy, x, mean],
    int32Uniforms([rows, cols, chunk, splits * cols]),
  );
  try {
    return runProgram(
      args.backend,
      new SumSplitsProgram([2, cols]),
      [partial],
      [{ type: 'int32', data: [splits] }],
    );
  } finally {
    args.backend.disposeData(partial.dataId);
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
