import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';
import { BATCHNORM_GRAD_SUMS_KERNEL, leanBatchNormGradConfig } from './batchnorm_grad';
import { BATCHNORM_DX_KERNEL, batchNormDxWebGPU } from './batchnorm_dx';
import { meanGradConfig, sumGradConfig } from '../reduce_grad';
import { reluGradConfig } from '../relu_grad';
import { ADAM_STEP_KERNEL, adamStepWebGPU } from './adam';
import { COLOR_JITTER_KERNEL, colorJitterWebGPU } from './color_jitter';
import { installQueueUploads, queueUploadsInstalled, uninstallQueueUploads } from './upload';
import { conv2dBackpropFilterWebGPU, supportsFilterGradient } from './conv2d_backprop_filter';
import { conv2dBackpropInputWebGPU, supportsInputGradient } from './conv2d_backprop_input';
import {
  FUSED_NTXENT_GRAD_KERNEL,
  FUSED_NTXENT_KERNEL,
  fusedNtxentBackwardWebGPU,
  fusedNtxentForwardWebGPU,
  fusedNtxentGradConfig,
} from './ntxent';
import { batchNormGradSumsWebGPU, maxWebGPU, meanWebGPU, minWebGPU, sumWebGPU } from './reduce';
import { topKWebGPU } from './topk';
import { matMulWebGPU } from './matmul';
import { conv2dWebGPU } from './conv2d';

export { FUSED_NTXENT_KERNEL } from './ntxent';

/** A project kernel; null means "not a case I handle": the stock kernel runs instead. */
type ProjectKernel = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[] | null;

const BACKEND = 'webgpu';

/**
 * The project's WebGPU kernels. `replaces` kernels fall back to the stock one for attrs they do not handle
 * (`handles`); the fused NT-Xent kernels are new names that only src/losses/ntxent.ts calls.
 */
const PROJECT_KERNELS: Array<{
  name: string;
  run: ProjectKernel;
  handles?: (attrs: tf.NamedAttrMap) => boolean;
  /** Left out when this returns false for the options. */
  enabled?: (options: Required<WebGPUKernelOptions>) => boolean;
}> = [
  { name: tf.Conv2D, run: conv2dWebGPU },
  { name: tf.FusedConv2D, run: conv2dWebGPU },
  {
    name: tf.Conv2DBackpropFilter,
    run: conv2dBackpropFilterWebGPU,
    handles: (attrs) => supportsFilterGradient(attrs as unknown as tf.Conv2DBackpropFilterAttrs),
  },
  {
    name: tf.Conv2DBackpropInput,
    run: conv2dBackpropInputWebGPU,
    handles: (attrs) => supportsInputGradient(attrs as unknown as tf.Conv2DBackpropInputAttrs),
    enabled: (options) => options.inputGradient,
  },
  { name: tf.Sum, run: sumWebGPU },
  { name: tf.Mean, run: meanWebGPU },
  { name: tf.Max, run: maxWebGPU },
  { name: tf.Min, run: minWebGPU },
  { name: tf.BatchMatMul, run: matMulWebGPU },
  { name: tf.TopK, run: topKWebGPU },
  { name: BATCHNORM_GRAD_SUMS_KERNEL, run: batchNormGradSumsWebGPU },
  { name: BATCHNORM_DX_KERNEL, run: batchNormDxWebGPU },
  { name: FUSED_NTXENT_KERNEL, run: fusedNtxentForwardWebGPU },
  { name: FUSED_NTXENT_GRAD_KERNEL, run: fusedNtxentBackwardWebGPU },
  { name: ADAM_STEP_KERNEL, run: adamStepWebGPU },
  { name: COLOR_JITTER_KERNEL, run: colorJitterWebGPU },
];

export interface WebGPUKernelOptions {
  /**
   * Also replace Conv2DBackpropInput (default true). The tiled kernel measured 0.6-0.7x the stock one on
   * SwiftShader (a CPU Vulkan driver, where the stock per-pixel loop is cache-friendly); see
   * webgpuKernelOptionsFor.
   */
  inputGradient?: boolean;
}

/**
 * The kernel set initBackend (and the benchmark) use on an adapter, from its description (describeAdapter in
 * backend.ts): everything, except the tiled input gradient on SwiftShader, where it measured slower than the
 * stock kernel (W2 step, Node/Dawn and Chromium, 2-core EPYC).
 */
export function webgpuKernelOptionsFor(adapter: string): Required<WebGPUKernelOptions> {
  return { inputGradient: !/swiftshader/i.test(adapter) };
}

/** Stock kernel configs replaced by registerWebGPUKernels, restored by unregisterWebGPUKernels. */
const stockKernels = new Map<string, tf.KernelConfig>();
/** The stock gradients registerProjectGradients replaced, by kernel name; null while it is not in effect. */
let stockGradients: Map<string, tf.GradConfig> | null = null;
/** The options of the registration in effect, or null. */
let registered: Required<WebGPUKernelOptions> | null = null;

/**
 * Swaps in the project's backend-agnostic gradients (idempotent): the leaner FusedBatchNorm gradient of
 * batchnorm_grad.ts, the Sum/Mean gradients of reduce_grad.ts (no host-side ones(x.shape) per backward pass) and
 * the Relu gradient of relu_grad.ts (one kernel where the backend registers ProjectReluGrad, as wasm does).
 * tfjs keys gradients by kernel name only, so this applies to every backend (cpu and wasm gain from it too);
 * registerWebGPUKernels calls it.
 */
export function registerProjectGradients(): void {
  if (stockGradients) return;
  stockGradients = new Map();
  const stockBatchNorm = tf.getGradient(tf.FusedBatchNorm);
  const ours: tf.GradConfig[] = [sumGradConfig, meanGradConfig, reluGradConfig];
  if (stockBatchNorm) ours.push(leanBatchNormGradConfig(stockBatchNorm));
  for (const config of ours) {
    const stock = tf.getGradient(config.kernelName);
    if (stock) stockGradients.set(config.kernelName, stock);
    tf.registerGradient(config);
  }
}

/** Restores the stock tfjs gradients replaced by registerProjectGradients. */
export function unregisterProjectGradients(): void {
  if (!stockGradients) return;
  for (const stock of stockGradients.values()) tf.registerGradient(stock);
  stockGradients = null;
}

/**
 * Registers the project's WebGPU kernels for the 'webgpu' backend (idempotent for the same options): tiled
 * implicit-GEMM Conv2D/FusedConv2D (NHWC, channels a multiple of 4, bias and ReLU fused), Conv2DBackpropFilter and
 * Conv2DBackpropInput (NHWC; NCHW keeps the stock kernels; the input
 * gradient only with options.inputGradient), Sum and Mean over leading or middle axes (BatchNorm's reductions,
 * the kNN's class scores) and
 * Sum/Mean/Max/Min over a few innermost values (colour augmentations; other reductions keep the stock kernels),
 * BatchMatMul of one matrix pair on the tiled GEMM (split-K for small outputs), a one-pass TopK (k <= 1024,
 * float32; the kNN monitor's neighbour search),
 * the fused BatchNorm gradient sums the lean BatchNorm gradient uses when registered, the fused two-view NT-Xent forward/backward that src/losses/ntxent.ts uses when it is registered, and the
 * fused Adam/AdamW step src/engine/optim.ts and the one-pass colour jitter src/engine/augment.ts use when registered. Registration is by kernel
 * name and backend name, so it can run before or after the backend is created; it affects ops run afterwards.
 * Also calls registerProjectGradients (the leaner BatchNorm, Sum and Mean gradients, all backends) and, when the
 * 'webgpu' backend has been created, installQueueUploads (uploads through queue.writeBuffer, upload.ts).
 */
export function registerWebGPUKernels(options: WebGPUKernelOptions = {}): void {
  const wanted: Required<WebGPUKernelOptions> = { inputGradient: options.inputGradient ?? true };
  // not a kernel: the started backend's host-to-GPU uploads (upload.ts); a no-op before the backend exists
  installQueueUploads();
  if (registered != null) {
    if (registered.inputGradient === wanted.inputGradient) return;
    unregisterWebGPUKernels();
  }
  if (tf.getKernel(tf.Conv2DBackpropFilter, BACKEND) == null) {
    throw new Error(
      "registerWebGPUKernels: the stock 'webgpu' kernels are not registered yet; import '@tensorflow/tfjs-backend-webgpu' first " +
        '(in Node, after installNodeWebGPU), then register the project kernels',
    );
  }
  for (const { name, run, handles } of activeKernels(wanted)) {
    const stock = tf.getKernel(name, BACKEND);
    if (stock != null) {
      stockKernels.set(name, stock);
      tf.unregisterKernel(name, BACKEND);
    }
    const runStock = (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
      if (stock == null) {
        throw new Error(
          `${name} on webgpu: the project kernel does not handle these inputs and there is no stock one`,
        );
      }
      return stock.kernelFunc(args as Parameters<tf.KernelFunc>[0]);
    };
    const kernelFunc = (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] =>
      handles != null && !handles(args.attrs ?? {}) ? runStock(args) : (run(args) ?? runStock(args));
    tf.registerKernel({ kernelName: name, backendName: BACKEND, kernelFunc: kernelFunc as tf.KernelFunc });
  }
  // gradients are registered by kernel name for every backend; the name is ours, so once is enough
  if (tf.getGradient(FUSED_NTXENT_KERNEL) == null) tf.registerGradient(fusedNtxentGradConfig);
  registerProjectGradients();
  registered = wanted;
}

function activeKernels(options: Required<WebGPUKernelOptions>) {
  return PROJECT_KERNELS.filter(({ enabled }) => enabled == null || enabled(options));
}

/** Puts the stock tfjs kernels and gradients back (the benchmark times stock and project kernels in one process). */
export function unregisterWebGPUKernels(): void {
  uninstallQueueUploads();
  if (registered == null) return;
  for (const { name } of activeKernels(registered)) {
    tf.unregisterKernel(name, BACKEND);
    const stock = stockKernels.get(name);
    if (stock != null) tf.registerKernel(stock);
  }
  stockKernels.clear();
  unregisterProjectGradients();
  registered = null;
}

/** Whether registerWebGPUKernels is in effect. */
export function webgpuKernelsRegistered(): boolean {
  return registered != null;
}

/** The kernel names registerWebGPUKernels replaced or added (empty when it is not in effect). */
export function registeredWebGPUKernels(): string[] {
  if (registered == null) return [];
  return [
    ...activeKernels(registered).map(({ name }) => name),
    ...(queueUploadsInstalled() ? ['upload:queue.writeBuffer'] : []),
  ];
}
