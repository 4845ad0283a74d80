import * as tf from '@tensorflow/tfjs';
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import type { KernelArgs } from '../backend_ops';
import { BATCHNORM_DX_KERNEL, BATCHNORM_GRAD_SUMS_KERNEL } from '../ops';
import { columnSplits, FlatProgram, int32Uniforms, runProgram, SumSplitsProgram } from '../webgpu/program';

// BatchNorm's training-mode kernels on webgpu (src/kernels/ops.ts: ProjectBatchNormGradSums, ProjectBatchNormDx).

/** dx = dy·a + (x − mean)·b + c, one thread per element; the per-channel vectors indexed by index % channels. */
class BatchNormDxProgram extends FlatProgram {
  variableNames = ['dy', 'x', 'mean', 'a', 'b', 'c'];
  shaderKey = 'projectBatchNormDx';
  uniforms = 'channels : i32,';

  getUserCode(): string {
    return `
    fn main(index : i32) {
      if (index < uniforms.size) {
        let ch = index % uniforms.channels;
        result[index] = dy[index] * a[ch] + (x[index] - mean[ch]) * b[ch] + c[ch];
      }
    }
    `;
  }
}

/**
 * Kernel BATCHNORM_DX_KERNEL on webgpu (BatchNorm's training-mode input gradient, ops.ts's batchNormTraining): inputs dy,
 * x [..., C] and mean, a, b, c [C], float32; output dx of x's shape in one pass.
 */
export function batchNormDxWebGPU(args: KernelArgs): tf.TensorInfo {
  const { dy, x, mean, a, b, c } = args.inputs as Record<string, tf.TensorInfo>;
  const C = x.shape[x.shape.length - 1];
  const vectors = [mean, a, b, c];
  if (!tf.util.arraysEqual(dy.shape, x.shape) || vectors.some((v) => tf.util.sizeFromShape(v.shape) !== C)) {
    throw new Error(
      `${BATCHNORM_DX_KERNEL}: expects dy and x of one shape [..., C] and [C] vectors, got x [${x.shape.join(', ')}], ` +
        `dy [${dy.shape.join(', ')}], vectors ${vectors.map((v) => `[${v.shape.join(', ')}]`).join(' ')}`,
    );
  }
  const size = tf.util.sizeFromShape(x.shape);
  const flat = (t: tf.TensorInfo, n: number): tf.TensorInfo => ({ ...t, shape: [n] });
  const inputs = [flat(dy, size), flat(x, size), ...vectors.map((v) => flat(v, C))];
  const out = runProgram(
    args.backend as tf.KernelBackend,
    new BatchNormDxProgram([size]),
    inputs,
    int32Uniforms([C]),
  );
  return { ...out, shape: [...x.shape] };
}

/**
 * Pass 1 of the BatchNorm gradient sums: partial [S, 2, C] = per row chunk, [Σ dy; Σ dy·(x − mean)] of columns
 * (the same chunking and coalesced reads as sum_mean/webgpu.ts's ColumnPartialSumProgram, two accumulators).
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
      `${BATCHNORM_GRAD_SUMS_KERNEL} needs dy and x of one shape [..., C] and mean [C]; got dy [${dy.shape.join(', ')}], ` +
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
