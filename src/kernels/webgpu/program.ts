import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

/**
 * Helpers shared by the project's WebGPU kernels. Only types come from @tensorflow/tfjs-backend-webgpu:
 * importing its values would register the backend as a side effect, and in Node that must happen after
 * navigator.gpu exists (see webgpu/node.ts), not whenever a kernel module happens to be imported.
 *
 * How tfjs runs a WebGPUProgram (backend_webgpu.runWebGPUProgram / webgpu_program.makeShader): it prepends
 * the bindings (`result` = output, then one `array<f32>` per name in variableNames), a `Uniforms` struct
 * (shapes and strides of every input and the output, then program.uniforms) and private copies of the
 * builtins (localId, localIndex, globalId, workgroupId, numWorkgroups); the program's code defines
 * `fn main()` (or `fn main(index: i32)` when its dispatchLayout is flat). Pipelines are cached by shaderKey
 * plus the ranks and dtypes of the inputs, so every compile-time constant of a shader must be in its key.
 */

export type ProgramUniforms = Array<{ type: 'int32' | 'float32' | 'uint32'; data: number[] }>;

/** One i32 uniform per value, in order (they must match the program's uniform declaration). */
export function int32Uniforms(values: number[]): ProgramUniforms {
  return values.map((value) => ({ type: 'int32' as const, data: [value] }));
}

/** tfjs' WebGPU dispatch limit per dimension (WebGPU's default maxComputeWorkgroupsPerDimension). */
export const MAX_WORKGROUPS_PER_DIMENSION = 65535;

/** The tfjs WebGPU backend behind a kernel's `backend` argument. */
export function asWebGPU(backend: tf.KernelBackend): WebGPUBackend {
  return backend as unknown as WebGPUBackend;
}

/**
 * Copies an input whose buffer is not float32 into a float32 one. tfjs' Cast from int32 (or bool) to float32
 * only relabels the tensor and keeps the int32 buffer, and runWebGPUProgram declares each binding with the
 * buffer's type, so a program written for f32 inputs would not compile (`cannot assign 'i32' to 'f32'`).
 */
/**
 * A program with one thread per output element: flat dispatch over outputShape, `fn main(index : i32)` with
 * uniforms.size the element count (subclasses set variableNames, shaderKey, uniforms and the code).
 */
export abstract class FlatProgram implements WebGPUProgram {
  abstract variableNames: string[];
  abstract shaderKey: string;
  outputShape: number[];
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [64, 1, 1];
  size = true;

  constructor(outputShape: number[]) {
    this.outputShape = outputShape;
    this.dispatchLayout = { x: outputShape.map((_, axis) => axis) };
    const size = outputShape.reduce((a, b) => a * b, 1);
    this.dispatch = [Math.ceil(size / this.workgroupSize[0]), 1, 1];
  }

  abstract getUserCode(): string;
}

class ToFloatProgram extends FlatProgram {
  variableNames = ['x'];
  shaderKey = 'projectToFloat';

  getUserCode(): string {
    return `
    fn main(index : i32) {
      if (index < uniforms.size) {
        result[index] = f32(x[index]);
      }
    }
    `;
  }
}

/** The dtype of the buffer behind `info` (which may differ from info.dtype after a Cast). */
function storageDtype(backend: tf.KernelBackend, info: tf.TensorInfo): tf.DataType {
  return asWebGPU(backend).tensorMap.get(info.dataId).dtype;
}

/**
 * Runs `program` and returns its output; `uniforms` are the values of program.uniforms, in order. With
 * `output`, the program writes into that existing tensor (several dispatches filling one result). Inputs
 * labelled float32 whose buffer is int32 or bool (see ToFloatProgram) are converted first. `outputDtype` is
 * float32 unless given.
 */
export function runProgram(
  backend: tf.KernelBackend,
  program: WebGPUProgram,
  inputs: tf.TensorInfo[],
  uniforms: ProgramUniforms,
  output?: tf.TensorInfo,
  outputDtype: 'float32' | 'int32' = 'float32',
): tf.TensorInfo {
  // tfjs folds a too-long flat (x-only) dispatch into x, y, z itself; 2-D and 3-D layouts must fit as they are
  const flat = !program.dispatchLayout.y?.length && !program.dispatchLayout.z?.length;
  for (const [axis, count] of program.dispatch.entries()) {
    if (!flat && count > MAX_WORKGROUPS_PER_DIMENSION) {
      throw new Error(
        `${program.shaderKey}: ${count} workgroups along dispatch axis ${axis} exceeds WebGPU's limit of ` +
          `${MAX_WORKGROUPS_PER_DIMENSION}; use a smaller batch or image size`,
      );
    }
  }
  const webgpu = asWebGPU(backend);
  const converted: tf.TensorInfo[] = [];
  const floatInputs = inputs.map((input) => {
    if (input.dtype !== 'float32' || storageDtype(backend, input) === 'float32') return input;
    const copy = webgpu.runWebGPUProgram(new ToFloatProgram(input.shape), [input], 'float32');
    converted.push(copy);
    return copy;
  });
  try {
    return webgpu.runWebGPUProgram(program, floatInputs, outputDtype, uniforms, output);
  } finally {
    for (const copy of converted) backend.disposeData(copy.dataId);
  }
}

/** Side of the square output tile one workgroup computes, and the depth of one step along the reduction. */
export const GEMM_TILE = 64;
export const GEMM_TILE_DEPTH = 16;
/** 16 x 16 threads, each owning a 4 x 4 block of the 64 x 64 tile (rows ty + 16 i, columns tx + 16 j). */
const GEMM_THREADS = 16;

/** WGSL statements for e = 0..3, written out (constant indices keep small arrays in registers). */
export function unroll4(statement: (e: number) => string): string {
  return [0, 1, 2, 3].map(statement).join(' ');
}

/**
 * How a thread loads its share (4 consecutive depths of one row or column) of a 64 x 16 operand tile:
 * 'outer-fastest' gives consecutive threads consecutive rows/columns (for an operand contiguous along its rows
 * or columns), 'depth-fastest' gives groups of 4 threads the 16 depths of one row (contiguous along the depth).
 * Either way a thread keeps the same row/column for the whole reduction, so the kernel decomposes that index
 * (pixel -> n, y, x; filter position -> i, j, c) once, before the tile loop.
 */
export type TileLoadOrder = 'outer-fastest' | 'depth-fastest';

export interface ImplicitGemmShader {
  /** WGSL at module scope (helper functions). */
  helpers?: string;
  aOrder: TileLoadOrder;
  bOrder: TileLoadOrder;
  /**
   * WGSL statements run once per thread before the tile loop. In scope: `aRow` (this thread's row of A,
   * possibly >= uniforms.rows) and `bCol` (its column of B, possibly >= uniforms.cols).
   */
  setup: string;
  /**
   * WGSL statements that fill `a : array<f32, 4>` (pre-zeroed) with A[aRow, aDepth + e], e = 0..3, leaving
   * zeros outside the matrix: rows >= uniforms.rows or depths >= depthEnd (this workgroup's reduction end).
   */
  loadA: string;
  /** Same for `b : array<f32, 4>` = B[bDepth + e, bCol]. */
  loadB: string;
  /**
   * WGSL expression: where row `row` of C starts in `result` (default `(split * uniforms.rows + row) *
   * uniforms.cols`, i.e. result = [splits, rows, cols]); lets a product scatter its rows into a larger output.
   */
  rowOffset?: string;
  /**
   * WGSL expression stored for C[row, col] given the accumulated `value` and the column `col` (default: value);
   * a fused epilogue, e.g. bias and activation of a convolution.
   */
  store?: (value: string, col: string) => string;
  /**
   * Columns per tile: 64 (default), or 32 for outputs at most 32 wide (implicitGemmLaunch picks it), where a
   * 64-wide tile would compute half its columns for nothing. Part of the program's shaderKey.
   */
  tileCols?: GemmTileCols;
}

export type GemmTileCols = 32 | 64;

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
  const range4 = [0, 1, 2, 3];
  const store = shader.store ?? ((value: string) => value);
  const tileCols = shader.tileCols ?? GEMM_TILE;
  // columns per thread: tx + 16 j, j < perThread (a vec4 or vec2 accumulator per row)
  const perThread = tileCols / GEMM_THREADS;
  const rangeJ = range4.slice(0, perThread);
  const vec = `vec${perThread}<f32>`;
  // 256 threads x 4 values = one 64 x 16 tile of A; the first tileCols·4 threads load the tileCols x 16 tile of B
  const placement = (order: TileLoadOrder, outer: string, depth: string, width: number) =>
    order === 'outer-fastest'
      ? `let ${outer} = thread % ${width}; let ${depth} = (thread / ${width}) * 4;`
      : `let ${outer} = thread / 4; let ${depth} = (thread % 4) * 4;`;
  return `
  var<workgroup> tileA : array<array<f32, ${GEMM_TILE}>, ${GEMM_TILE_DEPTH}>;
  var<workgroup> tileB : array<array<f32, ${tileCols}>, ${GEMM_TILE_DEPTH}>;

  ${shader.helpers ?? ''}

  fn main() {
    let tx = i32(localId.x);
    let ty = i32(localId.y);
    let thread = i32(localIndex);
    let colStart = i32(workgroupId.x) * ${tileCols};
    let rowStart = i32(workgroupId.y) * ${GEMM_TILE};
    let split = i32(workgroupId.z);
    let depthStart = split * uniforms.chunk;
    let depthEnd = min(depthStart + uniforms.chunk, uniforms.depth);
    ${placement(shader.aOrder, 'aLocalRow', 'aLocalDepth', GEMM_TILE)}
    ${placement(shader.bOrder, 'bLocalCol', 'bLocalDepth', tileCols)}
    let bLoads = thread < ${tileCols * 4};
    let aRow = rowStart + aLocalRow;
    let bCol = colStart + bLocalCol;
    ${shader.setup}
    // acc<i>[j] = C[row ty + 16 i, column tx + 16 j], unrolled into registers (no dynamically indexed arrays)
    ${range4.map((i) => `var acc${i} = ${vec}(0.0);`).join(' ')}

    for (var tile = 0; tile < uniforms.tilesPerChunk; tile = tile + 1) {
      let tileDepth = depthStart + tile * ${GEMM_TILE_DEPTH};
      {
        let aDepth = tileDepth + aLocalDepth;
        // explicit zeros: the loads only write in-range elements, and this must not keep the last tile's values
        var a = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
        ${shader.loadA}
        ${unroll4((e) => `tileA[aLocalDepth + ${e}][aLocalRow] = a[${e}];`)}
      }
      if (bLoads) {
        let bDepth = tileDepth + bLocalDepth;
        var b = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
        ${shader.loadB}
        ${unroll4((e) => `tileB[bLocalDepth + ${e}][bLocalCol] = b[${e}];`)}
      }
      workgroupBarrier();
      for (var t = 0; t < ${GEMM_TILE_DEPTH}; t = t + 1) {
        let b = ${vec}(${rangeJ.map((j) => `tileB[t][tx + ${GEMM_THREADS * j}]`).join(', ')});
        ${range4.map((i) => `acc${i} = fma(${vec}(tileA[t][ty + ${GEMM_THREADS * i}]), b, acc${i});`).join('\n        ')}
      }
      workgroupBarrier();
    }

    ${range4
      .map(
        (i) => `{
      let row = rowStart + ty + ${GEMM_THREADS * i};
      if (row < uniforms.rows) {
        let rowOffset = ${shader.rowOffset ?? '(split * uniforms.rows + row) * uniforms.cols'};
        ${rangeJ
          .map((j) => {
            const col = `colStart + tx + ${GEMM_THREADS * j}`;
            const value = store(`acc${i}[${j}]`, `(${col})`);
            return `if (${col} < uniforms.cols) { result[rowOffset + ${col}] = ${value}; }`;
          })
          .join('\n        ')}
      }
    }`,
      )
      .join('\n    ')}
  }
  `;
}

/** Dispatch and uniforms of an implicit GEMM of rows x cols over `depth`, split into `splits` chunks. */
export function implicitGemmLaunch(
  rows: number,
  cols: number,
  depth: number,
  splits: number,
): {
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  uniforms: ProgramUniforms;
  splits: number;
  tileCols: GemmTileCols;
} {
  // chunk: a whole number of tiles, so only the last split has a ragged end; depth 0 (no terms) writes zeros
  const chunk = Math.ceil(Math.ceil(depth / Math.max(1, splits)) / GEMM_TILE_DEPTH) * GEMM_TILE_DEPTH;
  const actualSplits = chunk === 0 ? 1 : Math.ceil(depth / chunk);
  const tileCols: GemmTileCols = cols <= 32 ? 32 : 64;
  return {
    dispatch: [Math.ceil(cols / tileCols), Math.ceil(rows / GEMM_TILE), actualSplits],
    workgroupSize: [GEMM_THREADS, GEMM_THREADS, 1],
    uniforms: [
      { type: 'int32', data: [rows] },
      { type: 'int32', data: [cols] },
      { type: 'int32', data: [depth] },
      { type: 'int32', data: [chunk] },
      { type: 'int32', data: [chunk / GEMM_TILE_DEPTH] },
    ],
    splits: actualSplits,
    tileCols,
  };
}

/**
 * The convolution geometry the implicit-GEMM conv kernels read, after IMPLICIT_GEMM_UNIFORMS: the channel count
 * their depth index walks (`channels`: inChannels for the forward pass and the filter gradient, outChannels for
 * the input gradient), then filter width, input and output sizes, strides and the top/left padding.
 */
export function convGeometryUniformsDeclaration(channels: 'inChannels' | 'outChannels'): string {
  return (
    ` ${channels} : i32, filterWidth : i32, inHeight : i32, inWidth : i32, outHeight : i32, outWidth : i32,` +
    ' strideHeight : i32, strideWidth : i32, padTop : i32, padLeft : i32,'
  );
}

/** The values of convGeometryUniformsDeclaration(channels) for `info`, in order. */
export function convGeometryUniforms(
  info: tf.backend_util.Conv2DInfo,
  channels: 'inChannels' | 'outChannels',
): ProgramUniforms {
  return int32Uniforms([
    info[channels],
    info.filterWidth,
    info.inHeight,
    info.inWidth,
    info.outHeight,
    info.outWidth,
    info.strideHeight,
    info.strideWidth,
    info.padInfo.top,
    info.padInfo.left,
  ]);
}

/** What implicitGemmLaunch returns. */
export type GemmLaunch = ReturnType<typeof implicitGemmLaunch>;

/**
 * A program built on implicitGemmSource: dispatch, workgroup size and tile width come from its launch, and the
 * tile width is appended to the shader key (`key`: the subclass's own compile-time choices). `dispatchLayout`
 * only tells tfjs the dispatch is not flat; the kernels index with workgroupId themselves.
 */
export abstract class GemmProgram implements WebGPUProgram {
  abstract variableNames: string[];
  abstract uniforms: string;
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0], y: [1] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  protected readonly tileCols: GemmTileCols;

  constructor(outputShape: number[], launch: GemmLaunch, key: string) {
    this.outputShape = outputShape;
    this.dispatch = launch.dispatch;
    this.workgroupSize = launch.workgroupSize;
    this.tileCols = launch.tileCols;
    this.shaderKey = `${key}_${launch.tileCols}`;
  }

  /** implicitGemmSource with this program's tile width. */
  protected gemmSource(shader: Omit<ImplicitGemmShader, 'tileCols'>): string {
    return implicitGemmSource({ ...shader, tileCols: this.tileCols });
  }

  abstract getUserCode(): string;
}

/** Workgroups split-K aims for: enough to occupy a discrete GPU's compute units several times over. */
const TARGET_WORKGROUPS = 512;
/** Cap on a split-K scratch buffer ([splits, rows, cols] partial products). */
const MAX_PARTIAL_BYTES = 64 * 1024 * 1024;

/**
 * How many ways to split the reduction of a rows x cols product over `depth`: enough for ~TARGET_WORKGROUPS
 * workgroups when the output has few 64 x 64 tiles, but at least minDepthPerSplit terms per split (else the
 * summing pass costs more than it saves) and at most MAX_PARTIAL_BYTES of partial products.
 */
export function splitKFor(rows: number, cols: number, depth: number, minDepthPerSplit: number): number {
  const tiles = Math.ceil(rows / GEMM_TILE) * Math.ceil(cols / GEMM_TILE);
  const wanted = Math.ceil(TARGET_WORKGROUPS / tiles);
  const byDepth = Math.max(1, Math.floor(depth / minDepthPerSplit));
  const byMemory = Math.max(1, Math.floor(MAX_PARTIAL_BYTES / (rows * cols * 4)));
  return Math.max(1, Math.min(wanted, byDepth, byMemory));
}

/** The uniform declarations implicitGemmSource reads, to put first in program.uniforms. */
export const IMPLICIT_GEMM_UNIFORMS =
  'rows : i32, cols : i32, depth : i32, chunk : i32, tilesPerChunk : i32,';

/**
 * Sums a [splits, ...outShape] tensor of split-K partial products over its first axis: result[i] =
 * Σ_s partial[s · size + i], times `scale` when built with scaled = true (a mean). Flat dispatch, one thread per
 * output element.
 */
export class SumSplitsProgram extends FlatProgram {
  variableNames = ['partial'];
  shaderKey: string;
  uniforms: string;

  constructor(
    outputShape: number[],
    private readonly scaled = false,
  ) {
    super(outputShape);
    this.shaderKey = `projectSumSplits_${scaled}`;
    this.uniforms = scaled ? 'splits : i32, scale : f32,' : 'splits : i32,';
  }

  getUserCode(): string {
    return `
    fn main(index : i32) {
      if (index < uniforms.size) {
        var sum = 0.0;
        for (var s = 0; s < uniforms.splits; s = s + 1) {
          sum = sum + partial[s * uniforms.size + index];
        }
        result[index] = sum${this.scaled ? ' * uniforms.scale' : ''};
      }
    }
    `;
  }
}

/** The backend's own Reshape kernel (shares the buffer, bumps its reference count). */
export function reshapeOnBackend(
  backend: tf.KernelBackend,
  x: tf.TensorInfo,
  shape: number[],
): tf.TensorInfo {
  const reshape = tf.getKernel(tf.Reshape, 'webgpu');
  if (reshape == null)
    throw new Error("the 'webgpu' backend has no Reshape kernel; is @tensorflow/tfjs-backend-webgpu loaded?");
  return reshape.kernelFunc({ inputs: { x }, backend, attrs: { shape } }) as tf.TensorInfo;
}

/** Threads pass 1 of a column reduction (a partial sum per row chunk and column, then SumSplitsProgram) aims for: enough to fill a GPU; fewer when the rows run out (at least MIN_CHUNK rows each). */
const TARGET_THREADS = 65536;
const MIN_CHUNK = 32;

/** How many row chunks pass 1 uses for an [rows, cols] reduction, and the rows per chunk. */
export function columnSplits(rows: number, cols: number): { splits: number; chunk: number } {
  const wanted = Math.max(1, Math.min(Math.ceil(TARGET_THREADS / cols), Math.ceil(rows / MIN_CHUNK)));
  const chunk = Math.ceil(rows / wanted);
  return { splits: Math.ceil(rows / chunk), chunk };
}
