import type * as tf from '@tensorflow/tfjs';

// How the project's WebAssembly SIMD kernels run on tfjs-backend-wasm: the backend parts they use, one instance of
// the kernel module per backend on the backend's own memory (src/kernels/wasm_module.ts lists the kernels), an
// optional thread pool (wasm/pool_node.ts in Node), how work splits over threads, and call counters.

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

/**
 * Runs a kernel over shares of its work on several threads at once, each thread on its own instance of the module
 * over the same shared memory; returns when every share is done. Shares must not write the same memory.
 */
export interface SimdThreadPool {
  /** Threads that run shares, the calling one included. */
  readonly threads: number;
  run(kernel: string, shares: number[][]): void;
}

/** Makes a pool for a module over a shared memory (the Node one: wasm/pool_node.ts). */
export type SimdThreadPoolFactory = (
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
) => SimdThreadPool;

/** An instance of the project's SIMD module on a backend's memory; K: the names of its kernels. */
export interface SimdModule<K extends string = string> {
  memory: WebAssembly.Memory;
  /** Threads the kernels can split their work over (1 without a pool). */
  threads: number;
  /** Runs `kernel` once per share (in parallel where there is a pool). */
  run(kernel: K, shares: number[][]): void;
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

/**
 * Instantiates the module `bytes(shared)` (its exports: kernels taking i32 arguments) on `backend`'s own linear
 * memory, with the thread pool set by useSimdThreadPool where that memory is shared; null where the memory is not
 * reachable or the engine has no fixed-width SIMD.
 */
export function instantiateSimdModule<K extends string>(
  backend: WasmHeapBackend,
  bytes: (shared: boolean) => Uint8Array<ArrayBuffer>,
): SimdModule<K> | null {
  const memory = backend.wasm?.asm?.memory ?? backend.wasm?.wasmMemory;
  if (!(memory instanceof WebAssembly.Memory)) return null;
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  let module: WebAssembly.Module;
  let kernels: Record<K, (...args: number[]) => void>;
  try {
    module = new WebAssembly.Module(bytes(shared));
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
