import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';

/**
 * UnsortedSegmentSum, which tfjs-backend-wasm (4.22) lacks: out[s, ...] = sum of x[i, ...] over the i with
 * segmentIds[i] = s, for s in [0, numSegments); ids outside that range are dropped (as in TensorFlow). tf.gather's
 * gradient is this kernel, so without it every loss that gathers rows of a tensor it differentiates (dcl, dclw,
 * hydra) failed on wasm with "Kernel 'UnsortedSegmentSum' not registered". segmentIds is 1-D, one id per row of x
 * (tf.unsortedSegmentSum's contract). Summed in JavaScript over the host copy: gradients of row gathers are small.
 */
export function unsortedSegmentSum(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const segmentIds = args.inputs.segmentIds as tf.TensorInfo;
  const { numSegments } = args.attrs as unknown as tf.UnsortedSegmentSumAttrs;
  if (segmentIds.shape.length !== 1 || x.shape.length === 0 || segmentIds.shape[0] !== x.shape[0]) {
    throw new Error(
      `UnsortedSegmentSum: segmentIds must be 1-D with one id per row of x; got ids [${segmentIds.shape.join(', ')}] ` +
        `for x [${x.shape.join(', ')}]`,
    );
  }
  const ids = args.backend.readSync(segmentIds.dataId) as ArrayLike<number>;
  const values = args.backend.readSync(x.dataId) as ArrayLike<number>;
  const inner = x.shape.slice(1).reduce((a, b) => a * b, 1);
  const out =
    x.dtype === 'int32' ? new Int32Array(numSegments * inner) : new Float32Array(numSegments * inner);
  for (let i = 0; i < ids.length; i++) {
    const segment = ids[i];
    if (segment < 0 || segment >= numSegments) continue;
    const from = i * inner;
    const to = segment * inner;
    for (let j = 0; j < inner; j++) out[to + j] += values[from + j];
  }
  const shape = [numSegments, ...x.shape.slice(1)];
  const dtype = x.dtype === 'int32' ? 'int32' : 'float32';
  return { dataId: args.backend.write(out, shape, dtype), shape, dtype };
}
