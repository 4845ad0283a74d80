import * as tf from '@tensorflow/tfjs';
import { speedKernelsOn } from '../speed_state';

/**
 * Gradients for the Sum and Mean kernels that stay on the device.
 *
 * The stock tfjs gradients (tfjs-core gradients/Sum_grad and Mean_grad) multiply the reshaped dy by
 * `ones(x.shape)`, which builds a Float32Array of x's full size in JavaScript, fills it with a loop and uploads
 * it, on every backward pass. BatchNorm's moments take the Mean of every activation, so each training step made
 * and uploaded the size of every BatchNorm input: on an H200 (Node + Dawn) that was ~70% of the CPU time of a
 * W2 step (batch 256 x 2 views), while the GPU sat idle. These broadcast dy (scaled by 1 / the reduced count for
 * Mean) to x's shape with the backend's own kernels (broadcastBack): same values, nothing made on the host.
 * tfjs keys gradients by kernel name, so cpu and wasm use them too.
 */

/** The reduced axes of a Sum/Mean attribute (a number, a list, or undefined for all; negative from the end). */
export function reducedAxes(axis: number | number[] | undefined | null, rank: number): number[] {
  const list = axis == null ? Array.from({ length: rank }, (_, i) => i) : Array.isArray(axis) ? axis : [axis];
  return list.map((a) => {
    if (!Number.isInteger(a) || a < -rank || a >= rank) {
      throw new Error(`reduction gradient: axis ${a} is out of range for a tensor of rank ${rank}`);
    }
    return a < 0 ? a + rank : a;
  });
}

/**
 * dy (x's shape with the reduced axes removed or kept as 1) times `scale`, broadcast back to x's shape. On webgpu,
 * and on wasm with the project's kernels when the last axis is kept (their Tile copies whole rows), one Tile
 * pass; elsewhere a
 * broadcasting multiply by Fill(x.shape, scale), both native kernels there: stock tfjs-backend-wasm's Tile is an
 * element-by-element loop (~50 ns an element: 43% of a W2 step at batch 64 when this used it on wasm), and Fill
 * writes straight into the backend's memory (no JavaScript array, no upload).
 */
/**
 * A float32 reduction over a leading prefix of x's axes, leaving at least one (BatchNorm's moments): x seen as
 * [rows, inner]. Null for anything else.
 */
export function leadingReduction(
  x: tf.TensorInfo,
  axis: number | number[] | undefined | null,
): { axes: number[]; rows: number; kept: number[]; inner: number } | null {
  if (x.dtype !== 'float32' || x.shape.length < 2) return null;
  const axes = [...new Set(reducedAxes(axis, x.shape.length))].sort((a, b) => a - b);
  if (axes.length === 0 || axes.length === x.shape.length || axes.some((a, i) => a !== i)) return null;
  const kept = x.shape.slice(axes.length);
  return {
    axes,
    rows: x.shape.slice(0, axes.length).reduce((a, b) => a * b, 1),
    kept,
    inner: kept.reduce((a, b) => a * b, 1),
  };
}

function broadcastBack(dy: tf.Tensor, xShape: number[], axes: number[], scale: number): tf.Tensor {
  const expanded = xShape.map((size, axis) => (axes.includes(axis) ? 1 : size));
  const g = tf.reshape(dy.dtype === 'float32' ? dy : tf.cast(dy, 'float32'), expanded);
  const backend = tf.getBackend();
  // wasm's project Tile takes tilings that keep the last axis (tileChannels); a reduced last axis stays on Fill
  if (
    backend === 'webgpu' ||
    (backend === 'wasm' && speedKernelsOn('wasm') && !axes.includes(xShape.length - 1))
  ) {
    return tf.broadcastTo(scale === 1 ? g : tf.mul(g, tf.scalar(scale)), xShape);
  }
  return tf.mul(g, tf.fill(xShape, scale));
}

function reduceGradConfig(kernelName: typeof tf.Sum | typeof tf.Mean): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      if (Array.isArray(dy)) throw new Error(`${kernelName} gradient: expected one dy, got ${dy.length}`);
      const axes = reducedAxes((attrs as unknown as { axis?: number | number[] }).axis, x.rank);
      const count = axes.reduce((n, axis) => n * x.shape[axis], 1);
      const scale = kernelName === tf.Mean ? 1 / count : 1;
      return { x: () => broadcastBack(dy, x.shape, axes, scale) };
    },
  };
}

export const sumGradConfig: tf.GradConfig = reduceGradConfig(tf.Sum);
export const meanGradConfig: tf.GradConfig = reduceGradConfig(tf.Mean);
