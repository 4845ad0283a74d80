// Test support for the wasm kernels (not shipped code): a kernel against the cpu backend's stock one, and seeded
// values.
import * as tf from '@tensorflow/tfjs';

type Run = (args: {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs?: tf.NamedAttrMap;
}) => tf.TensorInfo | tf.TensorInfo[];

/** Runs `kernel` on the cpu backend's stock kernel and on `ours` (wasm) for the same inputs; both results. */
export async function compare(
  kernelName: string,
  ours: (args: {
    inputs: tf.NamedTensorInfoMap;
    backend: tf.KernelBackend;
    attrs?: tf.NamedAttrMap;
  }) => tf.TensorInfo | null,
  inputs: Record<string, { shape: number[]; values: Float32Array }>,
  attrs: Record<string, unknown> = {},
) {
  const results: Record<'cpu' | 'wasm', { shape: number[]; values: Float32Array } | null> = {
    cpu: null,
    wasm: null,
  };
  for (const backendName of ['cpu', 'wasm'] as const) {
    await tf.setBackend(backendName);
    const tensors = Object.fromEntries(
      Object.entries(inputs).map(([k, v]) => [k, tf.tensor(v.values, v.shape)]),
    );
    const args = { inputs: tensors, backend: tf.backend(), attrs: attrs as tf.NamedAttrMap };
    const info =
      backendName === 'cpu'
        ? ((tf.getKernel(kernelName, 'cpu')!.kernelFunc as unknown as Run)(args) as tf.TensorInfo)
        : ours(args);
    if (info != null) {
      const out = tf.engine().makeTensorFromTensorInfo(info);
      results[backendName] = { shape: out.shape, values: (await out.data()) as Float32Array };
      out.dispose();
    }
    tf.dispose(Object.values(tensors));
  }
  return results;
}

export function random(
  shape: number[],
  seed: number,
  lo = -2,
  hi = 2,
): { shape: number[]; values: Float32Array } {
  let s = seed >>> 0;
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    values[i] = lo + ((hi - lo) * s) / 2 ** 32;
  }
  return { shape, values };
}

export function maxRelative(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++)
    worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return worst;
}
