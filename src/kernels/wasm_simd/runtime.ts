import type * as tf from '@tensorflow/tfjs';
import { assembleModule } from './assembler';
import {
  buildAdamFunction,
  buildBatchNormDxFunction,
  buildBatchNormSumsFunction,
  buildChannelwiseFunction,
  buildConvForwardFunction,
  buildFilterGradFunction,
  buildPadCopyFunction,
  buildReluGradFunction,
  buildSumRowsFunction,
  buildWinogradFilterGradFunction,
  buildWinogradFunction,
} from './programs';

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

/** The kernels in the module (exported functions; all take i32 arguments and return nothing). */
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

/**
 * Runs a kernel over shares of its work on several threads at once, each thread on its own instance of the module
 * over the same shared memory; returns when every share is done. Shares must not write the same memory.
 */
export interface SimdThreadPool {
  /** Threads that run shares, the calling one included. */
  readonly threads: number;
  run(kernel: SimdKernel, shares: number[][]): void;
}

/** Makes a pool for a module over a shared memory (the Node one: engine/simd_pool_node.ts). */
export type SimdThreadPoolFactory = (
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
) => SimdThreadPool;

export interface SimdModule {
  memory: WebAssembly.Memory;
  /** Threads the kernels can split their work over (1 without a pool). */
  threads: number;
  /** Runs `kernel` once per share (in parallel where there is a pool). */
  run(kernel: SimdKernel, shares: number[][]): void;
}

/** How many times each SIMD kernel ran (what the tests and the benchmark's notes use to see which path ran). */
export const simdKernelCalls: Record<string, number> = {};

export function countSimdCall(kernel: string): void {
  simdKernelCalls[kernel] = (simdKernelCalls[kernel] ?? 0) + 1;
}

let poolFactory: SimdThreadPoolFactory | null = null;

/**
 * Sets how modules made from now on run in parallel (null: one thread). Only a backend whose memory is shared (the
 * threaded Emscripten build) can use a pool; others run every share on the calling thread.
 */
export function useSimdThreadPool(factory: SimdThreadPoolFactory | null): void {
  poolFactory = factory;
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

/** The module's bytes for a memory that is or is not shared. */
export function simdModuleBytes(shared: boolean): Uint8Array<ArrayBuffer> {
  const builders: Record<SimdKernel, () => import('./assembler').FunctionBuilder> = {
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
    winograd: () => buildWinogradFunction(SIMD_KERNELS.indexOf('conv')),
    winogradFilterGrad: () => buildWinogradFilterGradFunction(SIMD_KERNELS.indexOf('filterGrad')),
    bnSums: buildBatchNormSumsFunction,
    bnDx: buildBatchNormDxFunction,
  };
  return assembleModule(
    SIMD_KERNELS.map((name) => ({ name, fn: builders[name]() })),
    { shared },
  );
}

function instantiate(backend: WasmHeapBackend): SimdModule | null {
  const memory = backend.wasm?.asm?.memory ?? backend.wasm?.wasmMemory;
  if (!(memory instanceof WebAssembly.Memory)) return null;
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  let module: WebAssembly.Module;
  let kernels: Record<SimdKernel, (...args: number[]) => void>;
  try {
    module = new WebAssembly.Module(simdModuleBytes(shared));
    kernels = new WebAssembly.Instance(module, { env: { memory } }).exports as typeof kernels;
  } catch {
    // an engine without fixed-width SIMD: the stock-kernel paths stay in use
    return null;
  }
  const pool = shared && poolFactory != null ? poolFactory(module, memory) : null;
  if (pool != null && pool.threads > 1) {
    return { memory, threads: pool.threads, run: (kernel, shares) => pool.run(kernel, shares) };
  }
  return {
    memory,
    threads: 1,
    run: (kernel, shares) => {
      for (const share of shares) kernels[kernel](...share);
    },
  };
}

/** Splits `count` tiles into at most `parts` contiguous, near-equal [from, to) ranges (none empty). */
export function splitTiles(count: number, parts: number): [number, number][] {
  const n = Math.max(1, Math.min(parts, count));
  return Array.from({ length: n }, (_, i) => [
    Math.floor((i * count) / n),
    Math.floor(((i + 1) * count) / n),
  ]);
}

/** Scratch memory in the wasm heap for one kernel call: allocated as needed, all freed by `release`. */
export class Scratch {
  private readonly pointers: number[] = [];

  constructor(private readonly backend: WasmHeapBackend) {}

  /** `bytes` uninitialised bytes (a clear error when the heap cannot grow). */
  bytes(bytes: number): number {
    // `>>> 0`: _malloc's i32 result reads as negative above 2 GB (the heap grows to 4 GB)
    const pointer = this.backend.wasm._malloc(Math.max(16, bytes)) >>> 0;
    if (pointer === 0) throw new Error(`wasm SIMD kernel: out of wasm memory for ${bytes} bytes`);
    this.pointers.push(pointer);
    return pointer;
  }

  /** `floats` float32s, zero-filled, or filled with `values`. */
  floats(simd: SimdModule, floats: number, values?: ArrayLike<number>): number {
    const pointer = this.bytes(floats * 4);
    const view = new Float32Array(simd.memory.buffer, pointer, floats);
    if (values == null) view.fill(0);
    else view.set(values);
    return pointer;
  }

  release(): void {
    for (const pointer of this.pointers) this.backend.wasm._free(pointer);
    this.pointers.length = 0;
  }
}
