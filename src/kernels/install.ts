import * as tf from '@tensorflow/tfjs';
import { adamStepWasm } from './adam_step/wasm';
import { adamStepWebGPU } from './adam_step/webgpu';
import type { KernelArgs } from './backend_ops';
import { batchMatMulSimd } from './batch_mat_mul/wasm';
import { matMulWebGPU } from './batch_mat_mul/webgpu';
import { batchNormDxSimd, batchNormGradSumsSimd, momentsSimd } from './batch_norm_train/wasm';
import { batchNormDxWebGPU, batchNormGradSumsWebGPU } from './batch_norm_train/webgpu';
import { channelBinary } from './channel_binary/wasm';
import { colorJitterWasm } from './color_jitter/wasm';
import { colorJitterWebGPU } from './color_jitter/webgpu';
import { conv2dSimd } from './conv2d/wasm';
import { conv2dWebGPU } from './conv2d/webgpu';
import { conv2dBackpropFilterViaConv } from './conv2d_backprop_filter/via_conv';
import { conv2dBackpropFilterSimd } from './conv2d_backprop_filter/wasm';
import { conv2dBackpropFilterWebGPU, supportsFilterGradient } from './conv2d_backprop_filter/webgpu';
import { conv2dBackpropInputViaConv } from './conv2d_backprop_input/via_conv';
import { conv2dBackpropInputSimd } from './conv2d_backprop_input/wasm';
import { conv2dBackpropInputWebGPU, supportsInputGradient } from './conv2d_backprop_input/webgpu';
import { leanBatchNormGradConfig } from './fused_batch_norm/gradient';
import { fusedBatchNormSimd } from './fused_batch_norm/wasm';
import { fusedNtxentBackwardWebGPU, fusedNtxentForwardWebGPU } from './fused_ntxent/webgpu';
import { gatherSlices } from './gather_v2/wasm';
import { castShared, identityShared } from './identity/wasm';
import { maxWebGPU, minWebGPU } from './max_min/webgpu';
import { oneHotFloat32 } from './one_hot/wasm';
import {
  ADAM_STEP_KERNEL,
  BATCHNORM_DX_KERNEL,
  BATCHNORM_GRAD_SUMS_KERNEL,
  COLOR_JITTER_KERNEL,
  FUSED_NTXENT_GRAD_KERNEL,
  FUSED_NTXENT_KERNEL,
  MOMENTS_KERNEL,
  RELU_GRAD_KERNEL,
  registerOpGradients,
} from './ops';
import { reluGradConfig } from './relu_grad/gradient';
import { reluGradWasm } from './relu_grad/wasm';
import { setSpeedKernels, speedKernelsOn } from './speed_state';
import { meanGradConfig, sumGradConfig } from './sum_mean/gradient';
import { reduceLeadingAxes } from './sum_mean/two_step';
import { sumLeadingSimd } from './sum_mean/wasm';
import { meanWebGPU, sumWebGPU } from './sum_mean/webgpu';
import { tileChannels } from './tile/wasm';
import { topKWebGPU } from './top_k/webgpu';
import { unsortedSegmentSum } from './unsorted_segment_sum/wasm';
import { installQueueUploads, queueUploadsInstalled, uninstallQueueUploads } from './webgpu/upload';

// Which of the project's kernels and gradients are in effect, for every backend: one table, and one function that
// the engine (initBackend) and the benchmark both use to put them in place or take them out. docs/kernels.md
// describes every op and kernel.

/**
 * Why a kernel is registered: 'missing' (the backend has none: nothing trains without it), 'correctness' (the
 * stock one returns wrong values), 'speed' (the stock one is right but slow, or the op is the project's own and
 * its reference in tfjs ops is slow). Only 'speed' kernels go with kernels: 'stock'.
 */
export type KernelReason = 'missing' | 'correctness' | 'speed';

/** A project kernel; null means "not a case I handle": the stock kernel runs instead. */
type Run = (args: KernelArgs, backendName: string) => tf.TensorInfo | tf.TensorInfo[] | null;

export interface KernelEntry {
  /** The tfjs kernel name (a stock one, or a project op of ops.ts). */
  op: string;
  backend: 'wasm' | 'cpu' | 'webgpu';
  reason: KernelReason;
  /** One line: what the kernel does instead of the stock one. */
  why: string;
  run: Run;
  /** Tried first while the speed kernels are on (kernels: 'project'); returns null for cases it leaves to `run`. */
  faster?: Run;
  /** The attributes it handles; the stock kernel takes the others without calling `run`. */
  handles?: (attrs: tf.NamedAttrMap) => boolean;
  /** False on adapters (installKernels' `adapter`) where it measured slower than the stock kernel. */
  onAdapter?: (adapter: string) => boolean;
}

/**
 * The project's kernels, op by backend. Per backend, in the order installKernels reports them. Each is built
 * over the stock kernel it replaces: a case the project kernel does not handle (it returns null) runs the stock
 * one.
 */
export const KERNELS: readonly KernelEntry[] = [
  // ---- wasm (tfjs-backend-wasm): fixes, then the WebAssembly SIMD and JavaScript kernels
  {
    op: tf.OneHot,
    backend: 'wasm',
    reason: 'correctness',
    why: 'the stock kernel writes int32 bits whatever the dtype: float32 one-hots filled in JavaScript',
    run: oneHotFloat32,
  },
  {
    op: tf.UnsortedSegmentSum,
    backend: 'wasm',
    reason: 'missing',
    why: "tf.gather's gradient: losses that gather rows (dcl, dclw, hydra) cannot train without it",
    run: unsortedSegmentSum,
  },
  {
    op: tf.Conv2DBackpropFilter,
    backend: 'wasm',
    reason: 'missing',
    why: 'no stock kernel: the SIMD kernel (Winograd for 3x3 stride 1), else a convolution in XNNPACK',
    run: conv2dBackpropFilterViaConv,
    faster: conv2dBackpropFilterSimd,
  },
  {
    op: tf.Conv2DBackpropInput,
    backend: 'wasm',
    reason: 'speed',
    why: 'the stock kernel is a naive loop: the SIMD phase-wise transposed convolution, else one in XNNPACK',
    run: conv2dBackpropInputViaConv,
    faster: conv2dBackpropInputSimd,
  },
  {
    op: tf.Conv2D,
    backend: 'wasm',
    reason: 'speed',
    why: 'the SIMD register-tiled convolution (Winograd F(2x2, 3x3) for 3x3 stride 1), split over the threads',
    run: conv2dSimd,
  },
  {
    op: tf.FusedConv2D,
    backend: 'wasm',
    reason: 'speed',
    why: 'the SIMD convolution with the bias and ReLU fused',
    run: conv2dSimd,
  },
  {
    op: tf.GatherV2,
    backend: 'wasm',
    reason: 'speed',
    why: 'whole slices as memmoves instead of an element-by-element copy',
    run: gatherSlices,
  },
  {
    op: tf.Identity,
    backend: 'wasm',
    reason: 'speed',
    why: 'a second reference instead of a copy (every tensor a gradient saves is cloned)',
    run: identityShared,
  },
  {
    op: tf.Cast,
    backend: 'wasm',
    reason: 'speed',
    why: 'a cast to the dtype a tensor already has as a second reference instead of a copy',
    run: castShared,
  },
  {
    op: tf.Sum,
    backend: 'wasm',
    reason: 'speed',
    why: "BatchNorm's per-channel sums over leading axes: SIMD, else two cache-friendly steps, not a transpose",
    run: (args, backend) => sumLeadingSimd(tf.Sum)(args) ?? reduceLeadingAxes(tf.Sum)(args, backend),
  },
  {
    op: tf.Mean,
    backend: 'wasm',
    reason: 'speed',
    why: 'as Sum, divided by the count',
    run: (args, backend) => sumLeadingSimd(tf.Mean)(args) ?? reduceLeadingAxes(tf.Mean)(args, backend),
  },
  {
    op: tf.Multiply,
    backend: 'wasm',
    reason: 'speed',
    why: 'an activation times a per-channel or per-image vector in one pass, not a broadcasting element loop',
    run: channelBinary(tf.Multiply),
  },
  {
    op: tf.Add,
    backend: 'wasm',
    reason: 'speed',
    why: 'as Multiply',
    run: channelBinary(tf.Add),
  },
  {
    op: tf.Sub,
    backend: 'wasm',
    reason: 'speed',
    why: 'as Multiply',
    run: channelBinary(tf.Sub),
  },
  {
    op: tf.FusedBatchNorm,
    backend: 'wasm',
    reason: 'speed',
    why: 'the per-channel factors once, then one SIMD pass',
    run: fusedBatchNormSimd,
  },
  {
    op: tf.Tile,
    backend: 'wasm',
    reason: 'speed',
    why: "a per-channel vector repeated (the Sum/Mean gradients' broadcast) as whole rows, not an element loop",
    run: tileChannels,
  },
  {
    op: tf.BatchMatMul,
    backend: 'wasm',
    reason: 'speed',
    why: "one matrix pair on the SIMD convolution kernels (the stock kernel's transposed products are naive loops)",
    run: batchMatMulSimd,
  },
  {
    op: ADAM_STEP_KERNEL,
    backend: 'wasm',
    reason: 'speed',
    why: 'one Adam/AdamW update per variable in one SIMD pass instead of ~17 ops',
    run: adamStepWasm,
  },
  {
    op: RELU_GRAD_KERNEL,
    backend: 'wasm',
    reason: 'speed',
    why: 'the ReLU gradient in one SIMD pass instead of Step, Cast and Multiply',
    run: reluGradWasm,
  },
  {
    op: BATCHNORM_GRAD_SUMS_KERNEL,
    backend: 'wasm',
    reason: 'speed',
    why: "BatchNorm's two gradient sums in one SIMD pass over dy and x",
    run: batchNormGradSumsSimd,
  },
  {
    op: BATCHNORM_DX_KERNEL,
    backend: 'wasm',
    reason: 'speed',
    why: "BatchNorm's training-mode input gradient in one SIMD pass",
    run: batchNormDxSimd,
  },
  {
    op: MOMENTS_KERNEL,
    backend: 'wasm',
    reason: 'speed',
    why: "BatchNorm's batch mean and variance in two SIMD passes instead of tf.moments' four",
    run: momentsSimd,
  },
  {
    op: COLOR_JITTER_KERNEL,
    backend: 'wasm',
    reason: 'speed',
    why: "a batch's colour jitter and grayscale in one JavaScript loop instead of ~460 small ops per view",
    run: colorJitterWasm,
  },
  // ---- cpu
  {
    op: tf.Conv2DBackpropFilter,
    backend: 'cpu',
    reason: 'speed',
    why: 'as a convolution: the stock kernel is a slow nested loop',
    run: conv2dBackpropFilterViaConv,
  },
  // ---- webgpu (tfjs-backend-webgpu): WGSL kernels
  {
    op: tf.Conv2D,
    backend: 'webgpu',
    reason: 'speed',
    why: 'tiled implicit GEMM (NHWC, channels a multiple of 4), bias and ReLU fused',
    run: conv2dWebGPU,
  },
  {
    op: tf.FusedConv2D,
    backend: 'webgpu',
    reason: 'speed',
    why: 'as Conv2D',
    run: conv2dWebGPU,
  },
  {
    op: tf.Conv2DBackpropFilter,
    backend: 'webgpu',
    reason: 'speed',
    why: 'tiled implicit GEMM with split-K over the batch and pixels (NHWC)',
    run: conv2dBackpropFilterWebGPU,
    handles: (attrs) => supportsFilterGradient(attrs as unknown as tf.Conv2DBackpropFilterAttrs),
  },
  {
    op: tf.Conv2DBackpropInput,
    backend: 'webgpu',
    reason: 'speed',
    why: 'tiled implicit GEMM per stride phase (NHWC); not on SwiftShader, where the stock kernel is faster',
    run: conv2dBackpropInputWebGPU,
    handles: (attrs) => supportsInputGradient(attrs as unknown as tf.Conv2DBackpropInputAttrs),
    // measured 0.6-0.7x the stock kernel on SwiftShader (a CPU Vulkan driver, where the stock per-pixel loop is
    // cache-friendly)
    onAdapter: (adapter) => !/swiftshader/i.test(adapter),
  },
  {
    op: tf.Sum,
    backend: 'webgpu',
    reason: 'speed',
    why: 'over leading or middle axes in two coalesced passes; over a few innermost values one thread per output',
    run: sumWebGPU,
  },
  {
    op: tf.Mean,
    backend: 'webgpu',
    reason: 'speed',
    why: 'as Sum',
    run: meanWebGPU,
  },
  {
    op: tf.Max,
    backend: 'webgpu',
    reason: 'speed',
    why: 'over a few innermost values (the colour augmentations): one thread per output',
    run: maxWebGPU,
  },
  {
    op: tf.Min,
    backend: 'webgpu',
    reason: 'speed',
    why: 'as Max',
    run: minWebGPU,
  },
  {
    op: tf.BatchMatMul,
    backend: 'webgpu',
    reason: 'speed',
    why: 'one matrix pair on the tiled GEMM, split-K for small outputs',
    run: matMulWebGPU,
  },
  {
    op: tf.TopK,
    backend: 'webgpu',
    reason: 'speed',
    why: "one pass (k <= 1024, float32): the kNN monitor's neighbour search",
    run: topKWebGPU,
  },
  {
    op: BATCHNORM_GRAD_SUMS_KERNEL,
    backend: 'webgpu',
    reason: 'speed',
    why: "BatchNorm's two gradient sums in one pass over dy and x",
    run: batchNormGradSumsWebGPU,
  },
  {
    op: BATCHNORM_DX_KERNEL,
    backend: 'webgpu',
    reason: 'speed',
    why: "BatchNorm's training-mode input gradient in one pass",
    run: batchNormDxWebGPU,
  },
  {
    op: FUSED_NTXENT_KERNEL,
    backend: 'webgpu',
    reason: 'speed',
    why: 'the two-view NT-Xent per anchor in one dispatch, without the R x R similarity matrix',
    run: fusedNtxentForwardWebGPU,
  },
  {
    op: FUSED_NTXENT_GRAD_KERNEL,
    backend: 'webgpu',
    reason: 'speed',
    why: 'its gradient in one dispatch',
    run: fusedNtxentBackwardWebGPU,
  },
  {
    op: ADAM_STEP_KERNEL,
    backend: 'webgpu',
    reason: 'speed',
    why: 'one Adam/AdamW update per variable in three dispatches instead of ~17 ops',
    run: adamStepWebGPU,
  },
  {
    op: COLOR_JITTER_KERNEL,
    backend: 'webgpu',
    reason: 'speed',
    why: "a batch's colour jitter and grayscale in one dispatch instead of ~460 small ops per view",
    run: colorJitterWebGPU,
  },
];

/**
 * The project's gradients for stock kernels, registered for every backend (tfjs keys gradients by kernel name
 * only), all 'speed': the same values as the stock gradients with fewer passes or no host-made tensors.
 */
export const GRADIENTS: readonly {
  op: string;
  why: string;
  /** The gradient, built over the stock one (null: keep the stock one). */
  config: (stock: tf.GradConfig | undefined) => tf.GradConfig | null;
}[] = [
  {
    op: tf.FusedBatchNorm,
    why: 'three full-size passes (one with ProjectBatchNormGradSums) instead of about nine',
    config: (stock) => (stock == null ? null : leanBatchNormGradConfig(stock)),
  },
  {
    op: tf.Sum,
    why: 'dy broadcast back on the device, no host-made ones(x.shape) per backward pass',
    config: () => sumGradConfig,
  },
  { op: tf.Mean, why: 'as Sum', config: () => meanGradConfig },
  {
    op: tf.Relu,
    why: 'ProjectReluGrad where the backend registers it (one pass)',
    config: () => reluGradConfig,
  },
];

export interface InstallOptions {
  /**
   * 'project' (default): every kernel of the backend in KERNELS and every gradient in GRADIENTS. 'stock': only
   * what the backend cannot train correctly without (reason 'missing' or 'correctness'), tfjs' own gradients.
   */
  kernels?: 'project' | 'stock';
  /** The WebGPU adapter's description (vendor / architecture / device / description): kernels slower there stay out. */
  adapter?: string;
  /**
   * Whether to put the project's gradients in (kernels: 'project') or take them out ('stock') too; default true.
   * false leaves them as they are (tests that compare the kernels against tfjs' own gradients).
   */
  gradients?: boolean;
}

/** A WebGPU adapter's description, installKernels' `adapter`: vendor / architecture / device / description. */
export function describeAdapter(adapter: GPUAdapter): string {
  const info = (adapter as { info?: GPUAdapterInfo }).info;
  if (info === undefined) return 'unknown adapter';
  const parts = [info.vendor, info.architecture, info.device, info.description].filter(
    (part) => part !== undefined && part !== '',
  );
  return parts.length > 0 ? parts.join(' / ') : 'unknown adapter';
}

/** The kernel configs registered here (so that installing again neither warns nor stacks registrations). */
const ours = new WeakSet<tf.KernelFunc>();
/** The stock kernels replaced here, by `${backend}/${op}` (null: the backend had none), for putting them back. */
const replaced = new Map<string, tf.KernelConfig | null>();
/** The stock gradients replaced here, by kernel name; null while the project's are not in effect. */
let stockGradients: Map<string, tf.GradConfig> | null = null;

/**
 * Puts this project's kernels in place for `backend` (or, with kernels: 'stock', takes the optional ones out) and
 * returns what is in effect (installedKernels). Registration is by kernel name and backend name, so this works
 * before or after the backend starts and covers backends set later with tf.setBackend; repeated calls are cheap
 * and idempotent. Also registers (or, with 'stock', removes) the project's gradients (GRADIENTS, every backend)
 * and the gradients of the project's own ops (ops.ts), and on webgpu the uploads through queue.writeBuffer
 * (webgpu/upload.ts, once the backend has started). For webgpu, import @tensorflow/tfjs-backend-webgpu first (in
 * Node after installNodeWebGPU): the project kernels are built over the stock ones.
 */
export function installKernels(backend: string, options: InstallOptions = {}): string[] {
  const choice = options.kernels ?? 'project';
  if (choice !== 'project' && choice !== 'stock') {
    throw new Error(`installKernels: unknown kernels "${String(choice)}"; use 'project' or 'stock'`);
  }
  const project = choice === 'project';
  const entries = KERNELS.filter((entry) => entry.backend === backend);
  if (backend === 'webgpu' && project && tf.getKernel(tf.Conv2DBackpropFilter, backend) == null) {
    throw new Error(
      "installKernels: the stock 'webgpu' kernels are not registered yet; import '@tensorflow/tfjs-backend-webgpu' " +
        'first (in Node, after installNodeWebGPU), then install the project kernels',
    );
  }
  setSpeedKernels(backend, project);
  for (const entry of entries) {
    const wanted =
      entry.reason !== 'speed' || (project && (entry.onAdapter?.(options.adapter ?? '') ?? true));
    if (wanted) register(entry);
    else restore(entry);
  }
  if (backend === 'webgpu') {
    if (project) installQueueUploads();
    else uninstallQueueUploads();
  }
  if (options.gradients !== false) {
    if (project) registerGradients();
    else unregisterGradients();
  }
  registerOpGradients();
  return installedKernels(backend);
}

/**
 * What installKernels put in place for `backend`, in KERNELS' order: kernel names, 'upload:queue.writeBuffer'
 * (webgpu), then 'gradient:<kernel>' for the project's gradients while they are in effect.
 */
export function installedKernels(backend: string): string[] {
  const kernels = KERNELS.filter(
    (entry) => entry.backend === backend && isOurs(tf.getKernel(entry.op, backend)),
  ).map((entry) => entry.op);
  const uploads = backend === 'webgpu' && queueUploadsInstalled() ? ['upload:queue.writeBuffer'] : [];
  const gradients = stockGradients == null ? [] : GRADIENTS.map(({ op }) => `gradient:${op}`);
  return [...kernels, ...uploads, ...gradients];
}

function isOurs(config: tf.KernelConfig | undefined): boolean {
  return config != null && ours.has(config.kernelFunc);
}

function register(entry: KernelEntry): void {
  const { op, backend, run, faster, handles } = entry;
  const existing = tf.getKernel(op, backend);
  if (isOurs(existing)) return;
  if (existing != null) tf.unregisterKernel(op, backend);
  replaced.set(`${backend}/${op}`, existing ?? null);
  const runStock = (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    if (existing == null) {
      throw new Error(
        `${op} on ${backend}: the project kernel does not handle these inputs and there is no stock one`,
      );
    }
    return existing.kernelFunc(args as Parameters<tf.KernelFunc>[0]);
  };
  const kernelFunc = ((args: KernelArgs) => {
    if (handles != null && !handles(args.attrs ?? {})) return runStock(args);
    const out =
      (faster != null && speedKernelsOn(backend) ? faster(args, backend) : null) ?? run(args, backend);
    return out ?? runStock(args);
  }) as unknown as tf.KernelFunc;
  ours.add(kernelFunc);
  // the stock setup (wasm: binding its C function) must still run when the backend starts after this, since the
  // stock kernel is the fall-back
  tf.registerKernel({ kernelName: op, backendName: backend, kernelFunc, setupFunc: existing?.setupFunc });
}

function restore({ op, backend }: KernelEntry): void {
  const key = `${backend}/${op}`;
  if (!replaced.has(key)) return;
  const stock = replaced.get(key);
  replaced.delete(key);
  tf.unregisterKernel(op, backend);
  // a kernel the backend never had (a project op) is just removed
  if (stock == null) return;
  tf.registerKernel(stock);
  // tfjs runs a kernel's setup (wasm: binding its C function) only when the backend initialises; a stock kernel
  // swapped out before that never had it, so bind it now
  const started = tf.engine().registry[backend];
  if (stock.setupFunc != null && started != null) stock.setupFunc(started);
}

function registerGradients(): void {
  if (stockGradients != null) return;
  stockGradients = new Map();
  for (const { op, config } of GRADIENTS) {
    const stock = tf.getGradient(op);
    const gradient = config(stock);
    if (gradient == null) continue;
    if (stock != null) stockGradients.set(op, stock);
    tf.registerGradient(gradient);
  }
}

function unregisterGradients(): void {
  if (stockGradients == null) return;
  for (const stock of stockGradients.values()) tf.registerGradient(stock);
  stockGradients = null;
}
