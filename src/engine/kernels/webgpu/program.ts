import type * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

/**
 * Helpers shared by the project's WebGPU kernels. Only types come from @tensorflow/tfjs-backend-webgpu:
 * importing its values would register the backend as a side effect, and in Node that must happen after
 * navigator.gpu exists (see node-webgpu.ts), not whenever a kernel module happens to be imported.
 *
 * How tfjs runs a WebGPUProgram (backend_webgpu.runWebGPUProgram / webgpu_program.makeShader): it prepends
 * the bindings (`result` = output, then one `array<f32>` per name in variableNames), a `Uniforms` struct
 * (shapes and strides of every input and the output, then program.uniforms) and private copies of the
 * builtins (localId, localIndex, globalId, workgroupId, numWorkgroups); the program's code defines
 * `fn main()` (or `fn main(index: i32)` when its dispatchLayout is flat). Pipelines are cached by shaderKey
 * plus the ranks and dtypes of the inputs, so every compile-time constant of a shader must be in its key.
 */

export type ProgramUniforms = Array<{ type: 'int32' | 'float32' | 'uint32'; data: number[] }>;

/** tfjs' WebGPU dispatch limit per dimension (WebGPU's default maxComputeWorkgroupsPerDimension). */
export const MAX_WORKGROUPS_PER_DIMENSION = 65535;

/** The tfjs WebGPU backend behind a kernel's `backend` argument. */
export function asWebGPU(backend: tf.KernelBackend): WebGPUBackend {
  return backend as unknown as WebGPUBackend;
}

/** Runs `program` and returns its output; `uniforms` are the values of program.uniforms, in order. */
export function runProgram(
  backend: tf.KernelBackend,
  program: WebGPUProgram,
  inputs: tf.TensorInfo[],
  uniforms: ProgramUniforms,
): tf.TensorInfo {
  for (const [axis, count] of program.dispatch.entries()) {
    if (count > MAX_WORKGROUPS_PER_DIMENSION) {
      throw new Error(
        `${program.shaderKey}: ${count} workgroups along dispatch axis ${axis} exceeds WebGPU's limit of ` +
          `${MAX_WORKGROUPS_PER_DIMENSION}; use a smaller batch or image size`,
      );
    }
  }
  return asWebGPU(backend).runWebGPUProgram(program, inputs, 'float32', uniforms);
}

/** Side of the square output tile one workgroup computes, and the depth of one step along the reduction. */
export const GEMM_TILE = 64;
export const GEMM_TILE_DEPTH = 16;
/** 16 x 16 threads, each owning a 4 x 4 block of the 64 x 64 tile (rows ty + 16 i, columns tx + 16 j). */
const GEMM_THREADS = 16;
const GEMM_PER_THREAD = 4;

/**
 * Which index of an operand tile consecutive threads walk when loading it from global memory: the one
 * along which the operand is contiguous in memory, so that the loads coalesce.
 */
export type TileLoadOrder = 'outer-fastest' | 'depth-fastest';

export interface ImplicitGemmShader {
  /**
   * WGSL of `fn loadA(row: i32, depth: i32) -> f32`, called only with row < uniforms.rows and
   * depth < the end of this workgroup's reduction range.
   */
  loadA: string;
  /** WGSL of `fn loadB(depth: i32, col: i32) -> f32`, called only with in-range indices. */
  loadB: string;
  aOrder: TileLoadOrder;
  bOrder: TileLoadOrder;
}

/**
 * WGSL of a tiled matrix product C[r, c] = Σ_t A[r, t] · B[t, c] whose operands are never materialised:
 * loadA / loadB compute each element from the tensors on the fly ("implicit GEMM", e.g. im2col without
 * the im2col buffer). Each workgroup computes a 64 x 64 tile of C with a 16-deep shared-memory pipeline;
 * workgroup z takes the reduction range [z · chunk, (z + 1) · chunk) and writes its partial product to
 * result[z, r, c] (split-K: a convolution's filter gradient reduces over every output pixel of the batch
 * but has few outputs, so without the split only a handful of workgroups would run).
 *
 * Needs the uniforms `rows, cols, depth, chunk, tilesPerChunk : i32` (declared by the caller, first in
 * program.uniforms). The tile loop runs tilesPerChunk times in every workgroup so that the barriers stay in
 * uniform control flow (WGSL rejects a barrier under a branch on workgroup_id); the last chunk's extra
 * iterations load zeros.
 */
export function implicitGemmSource(shader: ImplicitGemmShader): string {
  const tileIndex = (order: TileLoadOrder, outerName: string, depthName: string) =>
    order === 'outer-fastest'
      ? `let ${outerName} = flat % ${GEMM_TILE}; let ${depthName} = flat / ${GEMM_TILE};`
      : `let ${depthName} = flat % ${GEMM_TILE_DEPTH}; let ${outerName} = flat / ${GEMM_TILE_DEPTH};`;
  const loadsPerThread = (GEMM_TILE * GEMM_TILE_DEPTH) / (GEMM_THREADS * GEMM_THREADS);
  return `
  var<workgroup> tileA : array<array<f32, ${GEMM_TILE}>, ${GEMM_TILE_DEPTH}>;
  var<workgroup> tileB : array<array<f32, ${GEMM_TILE}>, ${GEMM_TILE_DEPTH}>;

  ${shader.loadA}
  ${shader.loadB}

  fn main() {
    let tx = i32(localId.x);
    let ty = i32(localId.y);
    let thread = i32(localIndex);
    let colStart = i32(workgroupId.x) * ${GEMM_TILE};
    let rowStart = i32(workgroupId.y) * ${GEMM_TILE};
    let split = i32(workgroupId.z);
    let depthStart = split * uniforms.chunk;
    let depthEnd = min(depthStart + uniforms.chunk, uniforms.depth);
    var acc : array<array<f32, ${GEMM_PER_THREAD}>, ${GEMM_PER_THREAD}>;

    for (var tile = 0; tile < uniforms.tilesPerChunk; tile = tile + 1) {
      let tileDepth = depthStart + tile * ${GEMM_TILE_DEPTH};
      for (var load = 0; load < ${loadsPerThread}; load = load + 1) {
        let flat = thread + load * ${GEMM_THREADS * GEMM_THREADS};
        {
          ${tileIndex(shader.aOrder, 'r', 't')}
          let row = rowStart + r;
          let depth = tileDepth + t;
          var value = 0.0;
          if (row < uniforms.rows && depth < depthEnd) { value = loadA(row, depth); }
          tileA[t][r] = value;
        }
        {
          ${tileIndex(shader.bOrder, 'c', 't')}
          let col = colStart + c;
          let depth = tileDepth + t;
          var value = 0.0;
          if (col < uniforms.cols && depth < depthEnd) { value = loadB(depth, col); }
          tileB[t][c] = value;
        }
      }
      workgroupBarrier();
      for (var t = 0; t < ${GEMM_TILE_DEPTH}; t = t + 1) {
        var a : array<f32, ${GEMM_PER_THREAD}>;
        var b : array<f32, ${GEMM_PER_THREAD}>;
        for (var i = 0; i < ${GEMM_PER_THREAD}; i = i + 1) {
          a[i] = tileA[t][ty + ${GEMM_THREADS} * i];
          b[i] = tileB[t][tx + ${GEMM_THREADS} * i];
        }
        for (var i = 0; i < ${GEMM_PER_THREAD}; i = i + 1) {
          for (var j = 0; j < ${GEMM_PER_THREAD}; j = j + 1) {
            acc[i][j] = fma(a[i], b[j], acc[i][j]);
          }
        }
      }
      workgroupBarrier();
    }

    for (var i = 0; i < ${GEMM_PER_THREAD}; i = i + 1) {
      let row = rowStart + ty + ${GEMM_THREADS} * i;
      for (var j = 0; j < ${GEMM_PER_THREAD}; j = j + 1) {
        let col = colStart + tx + ${GEMM_THREADS} * j;
        if (row < uniforms.rows && col < uniforms.cols) {
          result[(split * uniforms.rows + row) * uniforms.cols + col] = acc[i][j];
        }
      }
    }
  }
  `;
}

/** Dispatch and uniforms of an implicit GEMM of rows x cols over `depth`, split into `splits` chunks. */
export function implicitGemmLaunch(
  rows: number,
  cols: number,
  depth: number,
  splits: number,
): { dispatch: [number, number, number]; workgroupSize: [number, number, number]; uniforms: ProgramUniforms; splits: number } {
  // chunk: a whole number of tiles, so only the last split has a ragged end
  const chunk = Math.ceil(Math.ceil(depth / Math.max(1, splits)) / GEMM_TILE_DEPTH) * GEMM_TILE_DEPTH;
  const actualSplits = Math.max(1, Math.ceil(depth / chunk));
  return {
    dispatch: [Math.ceil(cols / GEMM_TILE), Math.ceil(rows / GEMM_TILE), actualSplits],
    workgroupSize: [GEMM_THREADS, GEMM_THREADS, 1],
    uniforms: [
      { type: 'int32', data: [rows] },
      { type: 'int32', data: [cols] },
      { type: 'int32', data: [depth] },
      { type: 'int32', data: [chunk] },
      { type: 'int32', data: [chunk / GEMM_TILE_DEPTH] },
    ],
    splits: actualSplits,
  };
}

/** The uniform declarations implicitGemmSource reads, to put first in program.uniforms. */
export const IMPLICIT_GEMM_UNIFORMS = 'rows : i32, cols : i32, depth : i32, chunk : i32, tilesPerChunk : i32,';

/**
 * Sums a [splits, ...outShape] tensor of split-K partial products over its first axis: result[i] =
 * Σ_s partial[s · size + i]. Flat dispatch, one thread per output element.
 */
export class SumSplitsProgram implements WebGPUProgram {
  variableNames = ['partial'];
  outputShape: number[];
  shaderKey = 'projectSumSplits';
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [64, 1, 1];
  size = true;
  uniforms = 'splits : i32,';

  constructor(outputShape: number[]) {
    this.outputShape = outputShape;
    this.dispatchLayout = { x: outputShape.map((_, axis) => axis) };
    const size = outputShape.reduce((a, b) => a * b, 1);
    this.dispatch = [Math.ceil(size / this.workgroupSize[0]), 1, 1];
  }

  getUserCode(): string {
    return `
    fn main(index : i32) {
      if (index < uniforms.size) {
        var sum = 0.0;
        for (var s = 0; s < uniforms.splits; s = s + 1) {
          sum = sum + partial[s * uniforms.size + index];
        }
        result[index] = sum;
      }
    }
    `;
  }
}
