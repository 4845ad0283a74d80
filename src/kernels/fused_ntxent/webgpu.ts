import * as tf from '@tensorflow/tfjs';
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import type { KernelArgs } from '../backend_ops';
import { FUSED_NTXENT_KERNEL, type FusedNtxentAttrs } from '../ops';
import { MAX_WORKGROUPS_PER_DIMENSION, runProgram } from '../webgpu/program';

/** Threads per workgroup; each workgroup owns one row (anchor) of Z. */
const ROW_THREADS = 64;

/**
 * Forward pass of two-view NT-Xent (SimCLR) for the stacked unit rows Z [R = 2N, D], row r's positive at
 * p(r) = (r + N) mod R, in one dispatch, one workgroup per anchor:
 *
 *   lse_r  = LSE_{k != r}( Z_r.Z_k / tau )       (online max/sum-exp per thread, then a tree reduction)
 *   loss_r = lse_r - Z_r.Z_p(r) / tau
 *
 * Output: stats [2, R] = [loss; lse]. The R x R similarity matrix, its mask and its softmax are never stored.
 */
class FusedNtxentForwardProgram implements WebGPUProgram {
  variableNames = ['z'];
  outputShape: number[];
  shaderKey = 'projectFusedNtxentForward';
  dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [ROW_THREADS, 1, 1];
  uniforms = 'invTau : f32,';

  constructor(rows: number) {
    this.outputShape = [2, rows];
    this.dispatch = [rows, 1, 1];
  }

  getUserCode(): string {
    return `
    var<workgroup> partialMax : array<f32, ${ROW_THREADS}>;
    var<workgroup> partialSum : array<f32, ${ROW_THREADS}>;

    fn similarity(a : i32, b : i32, dims : i32) -> f32 {
      var dot = 0.0;
      for (var d = 0; d < dims; d = d + 1) {
        dot = fma(z[a * dims + d], z[b * dims + d], dot);
      }
      return dot * uniforms.invTau;
    }

    fn main() {
      let row = i32(workgroupId.x);
      let thread = i32(localIndex);
      let rows = uniforms.zShape.x;
      let dims = uniforms.zShape.y;
      // finite start (not -inf): exp(-1e30 - m) is an exact 0 and never produces NaN
      var runMax = -1.0e30;
      var runSum = 0.0;
      for (var k = thread; k < rows; k = k + ${ROW_THREADS}) {
        if (k != row) {
          let logit = similarity(row, k, dims);
          if (logit > runMax) {
            runSum = runSum * exp(runMax - logit) + 1.0;
            runMax = logit;
          } else {
            runSum = runSum + exp(logit - runMax);
          }
        }
      }
      partialMax[thread] = runMax;
      partialSum[thread] = runSum;
      workgroupBarrier();
      for (var width = ${ROW_THREADS / 2}; width > 0; width = width / 2) {
        if (thread < width) {
          let maxA = partialMax[thread];
          let maxB = partialMax[thread + width];
          let both = max(maxA, maxB);
          partialSum[thread] = partialSum[thread] * exp(maxA - both) + partialSum[thread + width] * exp(maxB - both);
          partialMax[thread] = both;
        }
        workgroupBarrier();
      }
      if (thread == 0) {
        let lse = partialMax[0] + log(partialSum[0]);
        let positive = (row + rows / 2) % rows;
        result[row] = lse - similarity(row, positive, dims);
        result[rows + row] = lse;
      }
    }
    `;
  }
}

/**
 * Backward pass of FusedNtxentForwardProgram for upstream gradients g = dL/dloss and h = dL/dlse (rows of
 * dstats [2, R]); with S_rk = Z_r.Z_k / tau and P_rk = exp(S_rk - lse_r), k != r:
 *
 *   dZ_r = (1/tau) [ Σ_{k != r} ((g_r + h_r) P_rk + (g_k + h_k) P_kr) Z_k  -  (g_r + g_p(r)) Z_p(r) ]
 *
 * (S is symmetric, so P_kr = exp(S_rk - lse_k) is recomputed from row r's own similarities, and p is an
 * involution). One workgroup per row: each 64-row chunk first computes its 64 weights into shared memory,
 * then every thread accumulates its own columns d of Σ_k w_k Z_k.
 */
class FusedNtxentBackwardProgram implements WebGPUProgram {
  variableNames = ['z', 'stats', 'dstats'];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [ROW_THREADS, 1, 1];
  uniforms = 'invTau : f32,';
  private readonly columnsPerThread: number;

  constructor(rows: number, dims: number) {
    this.outputShape = [rows, dims];
    this.dispatch = [rows, 1, 1];
    this.columnsPerThread = Math.ceil(dims / ROW_THREADS);
    this.shaderKey = `projectFusedNtxentBackward_${this.columnsPerThread}`;
  }

  getUserCode(): string {
    return `
    var<workgroup> weights : array<f32, ${ROW_THREADS}>;

    fn main() {
      let row = i32(workgroupId.x);
      let thread = i32(localIndex);
      let rows = uniforms.zShape.x;
      let dims = uniforms.zShape.y;
      let rowLse = stats[rows + row];
      let rowUpstream = dstats[row] + dstats[rows + row];
      var acc : array<f32, ${this.columnsPerThread}>;
      let chunks = (rows + ${ROW_THREADS - 1}) / ${ROW_THREADS};
      for (var chunk = 0; chunk < chunks; chunk = chunk + 1) {
        let k = chunk * ${ROW_THREADS} + thread;
        var weight = 0.0;
        if (k < rows && k != row) {
          var dot = 0.0;
          for (var d = 0; d < dims; d = d + 1) {
            dot = fma(z[row * dims + d], z[k * dims + d], dot);
          }
          let logit = dot * uniforms.invTau;
          weight = rowUpstream * exp(logit - rowLse) + (dstats[k] + dstats[rows + k]) * exp(logit - stats[rows + k]);
        }
        weights[thread] = weight;
        workgroupBarrier();
        let count = min(${ROW_THREADS}, rows - chunk * ${ROW_THREADS});
        for (var e = 0; e < ${this.columnsPerThread}; e = e + 1) {
          let d = thread + e * ${ROW_THREADS};
          if (d < dims) {
            var sum = acc[e];
            for (var m = 0; m < count; m = m + 1) {
              sum = fma(weights[m], z[(chunk * ${ROW_THREADS} + m) * dims + d], sum);
            }
            acc[e] = sum;
          }
        }
        workgroupBarrier();
      }
      let positive = (row + rows / 2) % rows;
      let positiveUpstream = dstats[row] + dstats[positive];
      for (var e = 0; e < ${this.columnsPerThread}; e = e + 1) {
        let d = thread + e * ${ROW_THREADS};
        if (d < dims) {
          result[row * dims + d] = uniforms.invTau * (acc[e] - positiveUpstream * z[positive * dims + d]);
        }
      }
    }
    `;
  }
}

function checkStacked(z: tf.TensorInfo): [number, number] {
  const [rows, dims] = z.shape;
  if (z.shape.length !== 2 || rows % 2 !== 0 || rows < 2) {
    throw new Error(
      `${FUSED_NTXENT_KERNEL} needs the stacked two-view matrix [2N, D], got shape [${z.shape.join(', ')}]`,
    );
  }
  if (rows > MAX_WORKGROUPS_PER_DIMENSION) {
    throw new Error(
      `${FUSED_NTXENT_KERNEL} runs one workgroup per row; 2N = ${rows} exceeds ${MAX_WORKGROUPS_PER_DIMENSION}: use a smaller batch`,
    );
  }
  return [rows, dims];
}

/** Kernel: stats [2, R] = [loss_r; lse_r] of FusedNtxentForwardProgram. */
export function fusedNtxentForwardWebGPU(args: KernelArgs): tf.TensorInfo {
  const { z } = args.inputs as { z: tf.TensorInfo };
  const { tau } = args.attrs as unknown as FusedNtxentAttrs;
  const [rows] = checkStacked(z);
  return runProgram(
    args.backend,
    new FusedNtxentForwardProgram(rows),
    [z],
    [{ type: 'float32', data: [1 / tau] }],
  );
}

/** Kernel: dZ of FusedNtxentBackwardProgram from z, the forward's stats and their upstream gradient dstats. */
export function fusedNtxentBackwardWebGPU(args: KernelArgs): tf.TensorInfo {
  const { z, stats, dstats } = args.inputs as {
    z: tf.TensorInfo;
    stats: tf.TensorInfo;
    dstats: tf.TensorInfo;
  };
  const { tau } = args.attrs as unknown as FusedNtxentAttrs;
  const [rows, dims] = checkStacked(z);
  return runProgram(
    args.backend,
    new FusedNtxentBackwardProgram(rows, dims),
    [z, stats, dstats],
    [{ type: 'float32', data: [1 / tau] }],
  );
}
