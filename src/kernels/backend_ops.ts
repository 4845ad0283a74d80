import * as tf from '@tensorflow/tfjs';

/** The arguments tfjs passes to a kernel function. */
export interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs?: tf.NamedAttrMap;
}

/**
 * Runs kernels of one backend on TensorInfos (the way backend-wasm's own kernels reuse each other) and disposes
 * the temporaries a composite kernel makes: `keep` marks one for disposal, `release` frees all of them.
 */
export class BackendOps {
  private readonly temporaries: tf.TensorInfo[] = [];

  constructor(
    private readonly backend: tf.KernelBackend,
    private readonly backendName: string,
    /** Names the composite kernel in the error when a building block is missing. */
    private readonly caller: string,
  ) {}

  run(kernelName: string, inputs: tf.NamedTensorInfoMap, attrs: Record<string, unknown>): tf.TensorInfo {
    const kernel = tf.getKernel(kernelName, this.backendName);
    if (kernel == null) {
      throw new Error(
        `${this.caller} needs the '${kernelName}' kernel, which backend '${this.backendName}' lacks; ` +
          `do not register ${this.caller} for that backend.`,
      );
    }
    const out = kernel.kernelFunc({ inputs, backend: this.backend, attrs: attrs as tf.NamedAttrMap });
    return Array.isArray(out) ? out[0] : out;
  }

  /** Runs a kernel whose output is a temporary (disposed by release). */
  temp(kernelName: string, inputs: tf.NamedTensorInfoMap, attrs: Record<string, unknown>): tf.TensorInfo {
    const out = this.run(kernelName, inputs, attrs);
    this.temporaries.push(out);
    return out;
  }

  /** A temporary tensor holding `values` (e.g. gather indices made on the host). */
  constant(shape: number[], dtype: tf.DataType, values: tf.backend_util.BackendValues): tf.TensorInfo {
    const out = { dataId: this.backend.write(values, shape, dtype), shape, dtype };
    this.temporaries.push(out);
    return out;
  }

  release(): void {
    for (const t of this.temporaries) this.backend.disposeData(t.dataId);
    this.temporaries.length = 0;
  }
}

/**
 * Whether tfjs has started (or is starting) the backend. Not tf.findBackend: that starts a registered backend
 * as a side effect, and while an async start is pending every other tensor op throws.
 */
export function backendStarted(name: string): boolean {
  return name in tf.engine().registry;
}
