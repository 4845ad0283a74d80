import { buildAdamFunction } from './adam_step/wasm_body';
import { buildBatchNormDxFunction, buildBatchNormSumsFunction } from './batch_norm_train/wasm_body';
import { buildConvForwardFunction, buildWinogradFunction } from './conv2d/wasm_body';
import { buildFilterGradFunction, buildWinogradFilterGradFunction } from './conv2d_backprop_filter/wasm_body';
import { buildReluGradFunction } from './relu_grad/wasm_body';
import { buildSumRowsFunction } from './sum_mean/wasm_body';
import { assembleModule, type FunctionBuilder } from './wasm/assembler';
import { buildChannelwiseFunction } from './wasm/channelwise';
import { buildPadCopyFunction } from './wasm/pad_copy';
import { instantiateSimdModule, type SimdModule, type WasmHeapBackend } from './wasm/runtime';

// The project's one WebAssembly SIMD module: every kernel body (each in its op's folder, wasm_body.ts, or in
// wasm/ where several ops share it), assembled when first used and instantiated on the wasm backend's own memory.

/** The kernels in the module (exported functions, in this order; all take i32 arguments and return nothing). */
export const SIMD_KERNELS = [
  'filterGrad',
  'conv',
  'sumRows',
  'batchNorm',
  'mul',
  'add',
  'sub',
  'rsub',
  'adam',
  'padCopy',
  'broadcast',
  'reluGrad',
  'winograd',
  'winogradFilterGrad',
  'bnSums',
  'bnDx',
] as const;
export type SimdKernel = (typeof SIMD_KERNELS)[number];

const BODIES: Record<SimdKernel, () => FunctionBuilder> = {
  filterGrad: buildFilterGradFunction,
  conv: buildConvForwardFunction,
  sumRows: buildSumRowsFunction,
  batchNorm: () => buildChannelwiseFunction('batchNorm'),
  mul: () => buildChannelwiseFunction('mul'),
  add: () => buildChannelwiseFunction('add'),
  sub: () => buildChannelwiseFunction('sub'),
  rsub: () => buildChannelwiseFunction('rsub'),
  adam: buildAdamFunction,
  padCopy: buildPadCopyFunction,
  broadcast: () => buildChannelwiseFunction('broadcast'),
  reluGrad: buildReluGradFunction,
  // the Winograd kernels call the direct ones for their 16 products
  winograd: () => buildWinogradFunction(SIMD_KERNELS.indexOf('conv')),
  winogradFilterGrad: () => buildWinogradFilterGradFunction(SIMD_KERNELS.indexOf('filterGrad')),
  bnSums: buildBatchNormSumsFunction,
  bnDx: buildBatchNormDxFunction,
};

/** The module's bytes for a memory that is or is not shared. */
export function simdModuleBytes(shared: boolean): Uint8Array<ArrayBuffer> {
  return assembleModule(
    SIMD_KERNELS.map((name) => ({ name, fn: BODIES[name]() })),
    { shared },
  );
}

/** Per backend instance: its SIMD module, or null where it cannot be made (no reachable memory, no SIMD). */
const modules = new WeakMap<object, SimdModule<SimdKernel> | null>();

/** The project's SIMD kernels, instantiated on `backend`'s own linear memory (made once per backend). */
export function simdModuleFor(backend: WasmHeapBackend): SimdModule<SimdKernel> | null {
  let module = modules.get(backend);
  if (module === undefined) {
    module = instantiateSimdModule<SimdKernel>(backend, simdModuleBytes);
    modules.set(backend, module);
  }
  return module;
}
