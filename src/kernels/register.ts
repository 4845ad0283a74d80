import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from './backend_ops';
import { conv2dBackpropFilterViaConv } from './conv2d_backprop_filter';
import { conv2dBackpropInputViaConv } from './conv2d_backprop_input';
import { gatherSlices } from './gather_rows';
import { castShared, identityShared } from './identity_shared';
import { oneHotFloat32 } from './one_hot';
import { reduceLeadingAxes } from './reduce_rows';
import { setSpeedKernels, speedKernelsOn } from './speed_state';
import { unsortedSegmentSum } from './unsorted_segment_sum';
import { ADAM_STEP_KERNEL, adamStepWasm } from './wasm_simd/adam';
import { COLOR_JITTER_KERNEL } from '../engine/augment';
import { BATCHNORM_DX_KERNEL, MOMENTS_KERNEL } from './batchnorm_train';
import { colorJitterWasm } from './color_jitter_wasm';
import {
  batchNormDxSimd,
  batchNormGradSumsSimd,
  channelBinary,
  fusedBatchNormSimd,
  momentsSimd,
  sumLeadingSimd,
  tileChannels,
} from './wasm_simd/channelwise';
import { BATCHNORM_GRAD_SUMS_KERNEL } from './webgpu/batchnorm_grad';
import { conv2dSimd } from './wasm_simd/conv2d';
import { conv2dBackpropInputSimd } from './wasm_simd/input_grad';
import { batchMatMulSimd } from './wasm_simd/matmul';
import { RELU_GRAD_KERNEL, reluGradWasm } from './wasm_simd/relu_grad';
import { conv2dBackpropFilterSimd } from './wasm_simd/filter_grad';

/**
 * Why a kernel is here: 'missing' (the backend has none: nothing trains without it), 'correctness' (the stock one
 * returns wrong values), 'speed' (the stock one is right but slow). Only 'speed' kernels are switched off by
 * kernels: 'stock' and unregisterProjectKernels.
 */
type Reason = 'missing' | 'correctness' | 'speed';

type Run = (args: KernelArgs, backendName: string) => tf.TensorInfo | tf.TensorInfo[] | null;

/**
 * The project's kernels for the wasm and cpu backends, each built from the backend's own kernels:
 *
 * - OneHot with a float32 output (oneHotFloat32), wasm: the stock kernel writes int32 bits whatever the dtype.
 * - UnsortedSegmentSum (tf.gather's gradient), wasm: missing, so losses that gather rows could not train.
 * - GatherV2 of whole slices (gatherSlices), wasm: memmoves instead of the stock element-by-element copy.
 * - Identity (identityShared), wasm: a second reference instead of a copy (tf.clone, and every tensor a gradient
 *   saves for the backward pass); Cast to the dtype a tensor already has (castShared) likewise.
 * - Conv2DBackpropFilter as a convolution (conv2dBackpropFilterViaConv): wasm has no such kernel at all, so conv
 *   nets cannot train there without it; cpu has one, but a slow nested loop (x, dy = [64,32,32,32], 3x3 'same':
 *   stock cpu 307 s, this one 16.4 s, Node 20, one shared core). On wasm, with the speed kernels on, the
 *   project's WebAssembly SIMD kernel (conv2dBackpropFilterSimd) goes first, for NHWC with channels in multiples
 *   of its tile.
 * - Conv2DBackpropInput as a convolution (conv2dBackpropInputViaConv), wasm only: the stock wasm kernel is a naive
 *   loop; this one runs in XNNPACK. cpu's forward Conv2D is as naive as its input gradient, so cpu keeps its own.
 *   With the speed kernels on, the project's SIMD transposed convolution (conv2dBackpropInputSimd: one stride-1
 *   convolution per stride phase, written straight into dx) goes first, for input channels in multiples of 8.
 * - Conv2D and FusedConv2D (conv2dSimd), wasm: the project's WebAssembly SIMD convolution (also what the input
 *   gradient above runs on), for NHWC, linear or ReLU, output channels in multiples of 8; XNNPACK's otherwise.
 * - Sum and Mean over leading axes, wasm: BatchNorm's per-channel reductions, in the project's SIMD kernel
 *   (sumLeadingSimd) for channels in multiples of 4, else in two cache-friendly steps (reduceLeadingAxes) instead
 *   of one transpose of the whole activation.
 * - BatchMatMul of one matrix pair (batchMatMulSimd), wasm: on the SIMD convolution kernels (the stock kernel
 *   runs every transposed product, all of a dense layer's gradients, in a naive loop).
 * - ProjectAdamStep (adamStepWasm), wasm: one Adam / AdamW update per variable in one SIMD pass (optim.ts uses
 *   it where registered) instead of ~17 ops.
 * - ProjectReluGrad (reluGradWasm), wasm: the ReLU gradient in one SIMD pass (relu_grad.ts's gradient uses it
 *   where registered) instead of Step, Cast and Multiply.
 * - ProjectBatchNormGradSums, ProjectBatchNormDx and ProjectMoments (batchNormGradSumsSimd, batchNormDxSimd,
 *   momentsSimd), wasm: the two passes of BatchNorm's training-mode gradient (batchnorm_train.ts) and the two of its
 *   batch statistics in SIMD, instead of tfjs ops.
 * - ProjectColorJitter (colorJitterWasm), wasm: the colour jitter and grayscale of a batch in one JavaScript loop
 *   instead of ~460 small ops per view.
 * - Multiply, Add, Sub of an activation and a per-channel vector, and FusedBatchNorm (channelBinary,
 *   fusedBatchNormSimd), and Tile of a per-channel vector (tileChannels: the Sum/Mean gradients' broadcast),
 *   wasm: one vectorised pass instead of the stock broadcasting element loops.
 */
const PROJECT_KERNELS: Record<
  string,
  /** `faster`: tried first while the speed kernels are on (returning null when it does not handle the case). */
  Array<{ name: string; why: Reason; run: Run; faster?: Run }>
> = {
  wasm: [
    { name: tf.OneHot, why: 'correctness', run: oneHotFloat32 },
    { name: tf.UnsortedSegmentSum, why: 'missing', run: unsortedSegmentSum },
    {
      name: tf.Conv2DBackpropFilter,
      why: 'missing',
      run: conv2dBackpropFilterViaConv,
      faster: conv2dBackpropFilterSimd,
    },
    {
      name: tf.Conv2DBackpropInput,
      why: 'speed',
      run: conv2dBackpropInputViaConv,
      faster: conv2dBackpropInputSimd,
    },
    { name: tf.Conv2D, why: 'speed', run: conv2dSimd },
    { name: tf.FusedConv2D, why: 'speed', run: conv2dSimd },
    { name: tf.GatherV2, why: 'speed', run: gatherSlices },
    { name: tf.Identity, why: 'speed', run: identityShared },
    { name: tf.Cast, why: 'speed', run: castShared },
    {
      name: tf.Sum,
      why: 'speed',
      run: (a, b) => sumLeadingSimd(tf.Sum)(a) ?? reduceLeadingAxes(tf.Sum)(a, b),
    },
    {
      name: tf.Mean,
      why: 'speed',
      run: (a, b) => sumLeadingSimd(tf.Mean)(a) ?? reduceLeadingAxes(tf.Mean)(a, b),
    },
    { name: tf.Multiply, why: 'speed', run: channelBinary(tf.Multiply) },
    { name: tf.Add, why: 'speed', run: channelBinary(tf.Add) },
    { name: tf.Sub, why: 'speed', run: channelBinary(tf.Sub) },
    { name: tf.FusedBatchNorm, why: 'speed', run: fusedBatchNormSimd },
    { name: tf.Tile, why: 'speed', run: tileChannels },
    { name: tf.BatchMatMul, why: 'speed', run: batchMatMulSimd },
    { name: ADAM_STEP_KERNEL, why: 'speed', run: adamStepWasm },
    { name: RELU_GRAD_KERNEL, why: 'speed', run: reluGradWasm },
    { name: BATCHNORM_GRAD_SUMS_KERNEL, why: 'speed', run: batchNormGradSumsSimd },
    { name: BATCHNORM_DX_KERNEL, why: 'speed', run: batchNormDxSimd },
    { name: MOMENTS_KERNEL, why: 'speed', run: momentsSimd },
    { name: COLOR_JITTER_KERNEL, why: 'speed', run: colorJitterWasm },
  ],
  cpu: [{ name: tf.Conv2DBackpropFilter, why: 'speed', run: conv2dBackpropFilterViaConv }],
};

/** The kernel functions registered here, so repeated calls neither warn nor stack registrations. */
const registeredByUs = new WeakSet<tf.KernelFunc>();
/** The stock kernels replaced here, per backend and kernel name, for unregisterProjectKernels. */
const replaced = new Map<string, tf.KernelConfig | null>();

/**
 * Registers this project's kernels for `backendName` (call before or after the backend is set; idempotent): see
 * PROJECT_KERNELS; with onlyRequired, just those without which results are wrong or missing (wasm's OneHot fix
 * and Conv2DBackpropFilter), not the faster ones. A kernel that returns null (a case it does not handle, e.g.
 * NCHW) falls back to the stock one. Backends other than wasm and cpu are left alone (webgpu: kernels/webgpu).
 */
export function registerProjectKernels(backendName: string, options: { onlyRequired?: boolean } = {}): void {
  if (options.onlyRequired !== true) setSpeedKernels(backendName, true);
  for (const { name, why, run, faster } of PROJECT_KERNELS[backendName] ?? []) {
    const existing = tf.getKernel(name, backendName);
    if (existing != null && registeredByUs.has(existing.kernelFunc)) continue;
    if (why === 'speed' && options.onlyRequired === true) continue;
    if (existing != null) tf.unregisterKernel(name, backendName);
    replaced.set(`${backendName}/${name}`, existing ?? null);
    const kernelFunc = ((args: KernelArgs) => {
      const out =
        (faster != null && speedKernelsOn(backendName) ? faster(args, backendName) : null) ??
        run(args, backendName);
      if (out != null) return out;
      if (existing == null) throw new Error(`${name} on ${backendName}: no kernel for these attributes`);
      return existing.kernelFunc(args as Parameters<tf.KernelFunc>[0]);
    }) as unknown as tf.KernelFunc;
    registeredByUs.add(kernelFunc);
    // the stock setup (wasm: binding its C function) must still run when the backend starts after this, since
    // the stock kernel is the fall-back
    tf.registerKernel({ kernelName: name, backendName, kernelFunc, setupFunc: existing?.setupFunc });
  }
}

/**
 * Puts the stock kernels back for `backendName` where the project's is only faster (the benchmark times stock and
 * project kernels in one process). The required ones stay registered: a kernel the backend lacks (wasm's
 * Conv2DBackpropFilter: conv nets could not train) and a fix for a wrong stock kernel (wasm's float32 OneHot).
 */
export function unregisterProjectKernels(backendName: string): void {
  setSpeedKernels(backendName, false);
  for (const { name, why } of PROJECT_KERNELS[backendName] ?? []) {
    if (why !== 'speed') continue;
    const key = `${backendName}/${name}`;
    if (!replaced.has(key)) continue;
    const stock = replaced.get(key);
    tf.unregisterKernel(name, backendName);
    replaced.delete(key);
    // a kernel the backend never had (the fused Adam step) is just removed
    if (stock == null) continue;
    tf.registerKernel(stock);
    // tfjs runs a kernel's setup (wasm: binding its C function) only when the backend initialises; a stock
    // kernel swapped out before that never had it, so bind it now
    const initialised = tf.engine().registry[backendName];
    if (stock.setupFunc != null && initialised != null) stock.setupFunc(initialised);
  }
}

/** The kernels registerProjectKernels registers for `backendName` (with onlyRequired: the required ones). */
export function projectKernelNames(backendName: string, options: { onlyRequired?: boolean } = {}): string[] {
  return (PROJECT_KERNELS[backendName] ?? [])
    .filter(({ why }) => why !== 'speed' || options.onlyRequired !== true)
    .map(({ name }) => name);
}
