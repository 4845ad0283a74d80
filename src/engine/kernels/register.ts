import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from './backend_ops';
import { conv2dBackpropFilterViaConv } from './conv2d_backprop_filter';
import { conv2dBackpropInputViaConv } from './conv2d_backprop_input';

/**
 * The project's composite kernels for the wasm and cpu backends, each built from the backend's own kernels:
 *
 * - Conv2DBackpropFilter as a convolution (conv2dBackpropFilterViaConv): wasm has no such kernel at all, so conv
 *   nets cannot train there without it; cpu has one, but a slow nested loop (x, dy = [64,32,32,32], 3x3 'same':
 *   stock cpu 307 s, this one 16.4 s, Node 20, one shared core).
 * - Conv2DBackpropInput as a convolution (conv2dBackpropInputViaConv), wasm only: the stock wasm kernel is a naive
 *   loop; this one runs in XNNPACK. cpu's forward Conv2D is as naive as its input gradient, so cpu keeps its own.
 */
const PROJECT_KERNELS: Record<
  string,
  Array<{ name: string; run: (args: KernelArgs, backendName: string) => tf.TensorInfo | null }>
> = {
  wasm: [
    { name: tf.Conv2DBackpropFilter, run: conv2dBackpropFilterViaConv },
    { name: tf.Conv2DBackpropInput, run: conv2dBackpropInputViaConv },
  ],
  cpu: [{ name: tf.Conv2DBackpropFilter, run: conv2dBackpropFilterViaConv }],
};

/** The kernel functions registered here, so repeated calls neither warn nor stack registrations. */
const registeredByUs = new WeakSet<tf.KernelFunc>();
/** The stock kernels replaced here, per backend and kernel name, for unregisterProjectKernels. */
const replaced = new Map<string, tf.KernelConfig | null>();

/**
 * Registers this project's kernels for `backendName` (call before or after the backend is set; idempotent): see
 * PROJECT_KERNELS; with onlyMissing, just those the backend lacks (wasm's Conv2DBackpropFilter, without which conv
 * nets cannot train). A kernel that returns null (a case it does not handle, e.g. NCHW) falls back to the stock one.
 * Backends other than wasm and cpu are left alone (webgpu has its own set in kernels/webgpu).
 */
export function registerProjectKernels(backendName: string, options: { onlyMissing?: boolean } = {}): void {
  for (const { name, run } of PROJECT_KERNELS[backendName] ?? []) {
    const existing = tf.getKernel(name, backendName);
    if (existing != null && (registeredByUs.has(existing.kernelFunc) || options.onlyMissing === true))
      continue;
    if (existing != null) tf.unregisterKernel(name, backendName);
    replaced.set(`${backendName}/${name}`, existing ?? null);
    const kernelFunc = ((args: KernelArgs) => {
      const out = run(args, backendName);
      if (out != null) return out;
      if (existing == null) throw new Error(`${name} on ${backendName}: no kernel for these attributes`);
      return existing.kernelFunc(args as Parameters<tf.KernelFunc>[0]);
    }) as unknown as tf.KernelFunc;
    registeredByUs.add(kernelFunc);
    tf.registerKernel({ kernelName: name, backendName, kernelFunc });
  }
}

/**
 * Puts the stock kernels back for `backendName` where the backend has one (the benchmark times stock and project
 * kernels in one process). A kernel the backend lacks (wasm's Conv2DBackpropFilter) stays registered: without it
 * conv nets cannot train at all.
 */
export function unregisterProjectKernels(backendName: string): void {
  for (const { name } of PROJECT_KERNELS[backendName] ?? []) {
    const key = `${backendName}/${name}`;
    const stock = replaced.get(key);
    if (stock == null) continue;
    tf.unregisterKernel(name, backendName);
    tf.registerKernel(stock);
    // tfjs runs a kernel's setup (wasm: binding its C function) only when the backend initialises; a stock
    // kernel swapped out before that never had it, so bind it now
    const initialised = tf.engine().registry[backendName];
    if (stock.setupFunc != null && initialised != null) stock.setupFunc(initialised);
    replaced.delete(key);
  }
}

/** The kernels registerProjectKernels registers for `backendName`. */
export function projectKernelNames(backendName: string): string[] {
  return (PROJECT_KERNELS[backendName] ?? []).map(({ name }) => name);
}
