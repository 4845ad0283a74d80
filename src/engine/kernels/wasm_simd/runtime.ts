import type * as tf from '@tensorflow/tfjs';
import { assembleModule } from './assembler';
import { buildFilterGradFunction } from './programs';

/** The parts of BackendWasm the SIMD kernels use. */
export interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  wasm: {
    _malloc(bytes: number): number;
    _free(pointer: number): void;
    /** Emscripten's exports; `memory` in the single-threaded build. */
    asm?: { memory?: WebAssembly.Memory };
    /** The memory the threaded build creates and shares with its workers. */
    wasmMemory?: WebAssembly.Memory;
  };
}

export interface SimdModule {
  memory: WebAssembly.Memory;
  exports: {
    filterGrad(...args: number[]): void;
  };
}

/** How many times each SIMD kernel ran (what the tests and the benchmark's notes use to see which path ran). */
export const simdKernelCalls: Record<string, number> = {};

export function countSimdCall(kernel: string): void {
  simdKernelCalls[kernel] = (simdKernelCalls[kernel] ?? 0) + 1;
}

/** Per backend instance: its SIMD module, or null where it cannot be made (no reachable memory, no SIMD). */
const modules = new WeakMap<object, SimdModule | null>();

/** The project's SIMD kernels, instantiated on `backend`'s own linear memory (made once per backend). */
export function simdModuleFor(backend: WasmHeapBackend): SimdModule | null {
  let module = modules.get(backend);
  if (module === undefined) {
    module = instantiate(backend);
    modules.set(backend, module);
  }
  return module;
}

function instantiate(backend: WasmHeapBackend): SimdModule | null {
  const memory = backend.wasm?.asm?.memory ?? backend.wasm?.wasmMemory;
  if (!(memory instanceof WebAssembly.Memory)) return null;
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  const bytes = assembleModule([{ name: 'filterGrad', fn: buildFilterGradFunction() }], { shared });
  try {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    return { memory, exports: instance.exports as unknown as SimdModule['exports'] };
  } catch {
    // an engine without fixed-width SIMD: the stock-kernel paths stay in use
    return null;
  }
}
