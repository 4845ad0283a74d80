import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';
import { BATCHNORM_DX_KERNEL } from '../batchnorm_train';
import { FlatProgram, int32Uniforms, runProgram } from './program';

export { BATCHNORM_DX_KERNEL };

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
 * Kernel BATCHNORM_DX_KERNEL on webgpu (BatchNorm's training-mode input gradient, batchnorm_train.ts): inputs dy,
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
