import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';
import {
  type GemmLaunch,
  GemmProgram,
  IMPLICIT_GEMM_UNIFORMS,
  implicitGemmLaunch,
  reshapeOnBackend,
  runProgram,
  splitKFor,
  SumSplitsProgram,
  unroll4,
} from '../webgpu/program';

/**
 * BatchMatMul of one matrix pair (the metrics' similarity blocks, covariance, the losses' Gram matrices) on the
 * 64 x 64-tile GEMM of webgpu/program.ts, with split-K when the output is small and the reduction long (a covariance
 * [D, n] x [n, D] has 4 tiles for D = 128): on SwiftShader the stock kernel measured 2.1-2.5x slower on the
 * kNN's [2048, 128] x [128, 2048]. Batched products (more than one matrix pair) keep the stock kernel.
 *
 *   C[r, c] = Σ_t A[r, t] · B[t, c],   A = a or aᵀ, B = b or bᵀ (transposeA, transposeB)
 */
class MatMulProgram extends GemmProgram {
  variableNames = ['aIn', 'bIn'];
  uniforms = IMPLICIT_GEMM_UNIFORMS;

  constructor(
    private readonly transposeA: boolean,
    private readonly transposeB: boolean,
    launch: GemmLaunch,
    rows: number,
    cols: number,
  ) {
    super([launch.splits, rows, cols], launch, `projectMatMul_${transposeA}_${transposeB}`);
  }

  getUserCode(): string {
    // A[r, t]: a [rows, depth] (contiguous along t) or, transposed, a [depth, rows] (contiguous along r)
    const aAt = this.transposeA ? '(t) * uniforms.rows + aRow' : 'aRow * uniforms.depth + (t)';
    // B[t, c]: b [depth, cols] (contiguous along c) or, transposed, b [cols, depth] (contiguous along t)
    const bAt = this.transposeB ? 'bCol * uniforms.depth + (t)' : '(t) * uniforms.cols + bCol';
    const load = (target: string, valid: string, start: string, at: string) =>
      `if (${valid}) { ${unroll4(
        (e) =>
          `if (${start} + ${e} < depthEnd) { ${target}[${e}] = ${target}In[${at.replace(/\(t\)/g, `(${start} + ${e})`)}]; }`,
      )} }`;
    return this.gemmSource({
      aOrder: this.transposeA ? 'outer-fastest' : 'depth-fastest',
      bOrder: this.transposeB ? 'depth-fastest' : 'outer-fastest',
      setup: 'let aValid = aRow < uniforms.rows; let bValid = bCol < uniforms.cols;',
      loadA: load('a', 'aValid', 'aDepth', aAt),
      loadB: load('b', 'bValid', 'bDepth', bAt),
    });
  }
}

/** A split keeps at least this many terms of the reduction. */
const MIN_DEPTH_PER_SPLIT = 256;

/** Whether matMulWebGPU takes this product (else the stock kernel runs): float32, one matrix pair. */
export function matMulHandles(a: tf.TensorInfo, b: tf.TensorInfo): boolean {
  const batch = (shape: number[]) => shape.slice(0, -2).reduce((x, y) => x * y, 1);
  return (
    a.dtype === 'float32' &&
    b.dtype === 'float32' &&
    a.shape.length >= 2 &&
    b.shape.length >= 2 &&
    batch(a.shape) === 1 &&
    batch(b.shape) === 1 &&
    a.shape.every((d) => d > 0) &&
    b.shape.every((d) => d > 0)
  );
}

/** Kernel BatchMatMul for one matrix pair (null: batched or not float32, run the stock kernel). */
export function matMulWebGPU(args: KernelArgs): tf.TensorInfo | null {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
  if (!matMulHandles(a, b)) return null;
  const [aOuter, aInner] = a.shape.slice(-2);
  const [bOuter, bInner] = b.shape.slice(-2);
  const rows = transposeA ? aInner : aOuter;
  const depth = transposeA ? aOuter : aInner;
  const depthB = transposeB ? bInner : bOuter;
  const cols = transposeB ? bOuter : bInner;
  if (depth !== depthB) {
    throw new Error(
      `BatchMatMul: inner dimensions differ (${depth} vs ${depthB}) for a [${a.shape.join(', ')}]` +
        `${transposeA ? 'ᵀ' : ''} x b [${b.shape.join(', ')}]${transposeB ? 'ᵀ' : ''}`,
    );
  }
  const launch = implicitGemmLaunch(rows, cols, depth, splitKFor(rows, cols, depth, MIN_DEPTH_PER_SPLIT));
  const program = new MatMulProgram(transposeA, transposeB, launch, rows, cols);
  // the output keeps the larger rank's leading 1s, as the stock kernel does
  const outShape = [...(a.shape.length >= b.shape.length ? a.shape : b.shape).slice(0, -2), rows, cols];
  const partial = runProgram(args.backend, program, [a, b], launch.uniforms);
  try {
    if (launch.splits === 1) return reshapeOnBackend(args.backend, partial, outShape);
    return runProgram(
      args.backend,
      new SumSplitsProgram(outShape),
      [partial],
      [{ type: 'int32', data: [launch.splits] }],
    );
  } finally {
    args.backend.disposeData(partial.dataId);
  }
}
