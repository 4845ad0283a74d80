import * as tf from '@tensorflow/tfjs';
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { int32Uniforms, reshapeOnBackend, runProgram } from './program';

/**
 * Sum, Mean, Max and Min over a few innermost values (at most SMALL_INNER, e.g. the 3 colour channels the
 * colour-jitter augmentations reduce per pixel): the stock kernel spends a 64-thread workgroup with barriers on
 * each pixel's 3 values; InnerReduceProgram gives each output one thread and a short loop.
 */
export type InnerOp = 'sum' | 'mean' | 'max' | 'min';

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

/** The reduction of x over its trailing `axis` in InnerReduceProgram, or null where it does not fit (stock kernel). */
export function reduceSmallInner(
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
