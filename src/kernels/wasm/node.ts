/**
 * Node-only: tfjs-backend-wasm's multi-threaded build (pthreads + SIMD) in Node, so the wasm backend's XNNPACK
 * convolutions and matrix products (forward and both conv gradients) can use several cores instead of one.
 *
 * tfjs turns threads off in Node (tfjs#3830): it hands the Emscripten pthread workers Blob URLs, which Node's
 * worker_threads cannot start. This module registers a replacement factory for the 'wasm' backend that loads the
 * same threaded binary with what Node can run: the pthread worker from source (`eval: true`), the main script
 * from its file. Two more details: the workers start without the parent's `execArgv` (a loader such as tsx's,
 * inherited by every pthread, deadlocks the pool's start-up), and tfjs sizes its thread pool as
 * min(requested, logical cores / 2) (it assumes two hyper-threads per core), so `os.cpus()` reports 2 x
 * `threads` while the module initialises and is restored right after. Never import this from browser or worker
 * code: in a cross-origin-isolated page tfjs starts the threaded build by itself.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { BackendWasm, getThreadsCount, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { backendStarted } from '../backend_ops';
import { useSimdThreadPool } from './runtime';
import { nodeSimdThreadPool, type NodeSimdPoolOptions } from './pool_node';

/** tfjs-backend-wasm's pool: 8 pre-started workers, and its C side caps the XNNPACK pool at 8 threads. */
export const MAX_WASM_THREADS = 8;

/** What installNodeWasmThreads did; `threads` is what the backend will ask for when it starts. */
export interface NodeWasmThreads {
  threads: number;
  /** True when the threaded build replaced the stock factory; false for threads = 1 (the stock build). */
  threaded: boolean;
}

/**
 * tfjs' own sizing (what a cross-origin-isolated browser page gets): half the logical cores (it assumes two
 * hyper-threads per core), 1 to MAX_WASM_THREADS. On the 2-core benchmark machine that is 1, and rightly: there 2
 * threads measured 1.30x on W1 (conv-heavy) but 0.83-0.93x on W3, W4 and one W2 run (docs/kernels.md, Threads).
 */
export function defaultWasmThreads(): number {
  return Math.max(1, Math.min(MAX_WASM_THREADS, Math.floor(os.availableParallelism() / 2)));
}

/** The threads the running wasm backend actually uses (-1 before it has started). */
export function wasmThreadsInUse(): number {
  return getThreadsCount();
}

const WORKER_SOURCE = 'tfjs-wasm-pthread-worker(eval)';
const PACKAGE = '@tensorflow/tfjs-backend-wasm';

type EmscriptenFactory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;
interface EmscriptenModule {
  cwrap: (name: string, returns: string | null, args: string[]) => (...args: number[]) => number;
  tfjs?: Record<string, unknown>;
  PThread: { runningWorkers: { unref(): void }[] };
}

/**
 * Makes the next start of the 'wasm' backend (initBackend / tf.setBackend('wasm')) use `threads` threads.
 * Call it before the wasm backend is first started. threads = 1 keeps the stock single-threaded build.
 * If the threaded build fails to start, the backend warns and starts the stock build instead. `pool.watchdogMs`
 * bounds how long a SIMD kernel call may go without any of its worker shares finishing before it fails with an
 * error naming the kernel and the workers (default 60 s; wasm/pool_node.ts).
 */
export function installNodeWasmThreads(
  threads: number = defaultWasmThreads(),
  pool: Pick<NodeSimdPoolOptions, 'watchdogMs'> = {},
): NodeWasmThreads {
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_WASM_THREADS) {
    throw new Error(
      `installNodeWasmThreads: threads must be an integer from 1 to ${MAX_WASM_THREADS} (tfjs-backend-wasm's ` +
        `pool size), got ${String(threads)}; omit it for tfjs' default, half the logical cores ` +
        `(${defaultWasmThreads()} here)`,
    );
  }
  if (pool.watchdogMs !== undefined && !(pool.watchdogMs > 0)) {
    throw new Error(
      `installNodeWasmThreads: pool.watchdogMs must be a positive number of ms, got ${String(pool.watchdogMs)}`,
    );
  }
  if (backendStarted('wasm')) {
    throw new Error(
      `installNodeWasmThreads: the wasm backend has already started with ${getThreadsCount()} thread(s); ` +
        'call installNodeWasmThreads before initBackend / tf.setBackend("wasm")',
    );
  }
  const stockFactory = tf.findBackendFactory('wasm');
  if (stockFactory == null) {
    throw new Error(`installNodeWasmThreads: no 'wasm' backend registered: import ${PACKAGE} first`);
  }
  setThreadsCount(threads);
  // the project's SIMD kernels split their work over as many threads (their own workers, same shared memory)
  useSimdThreadPool(threads > 1 ? nodeSimdThreadPool(threads, { watchdogMs: pool.watchdogMs }) : null);
  if (threads === 1) return { threads, threaded: false };
  tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    async () => {
      try {
        const module = await loadThreadedModule(threads);
        const backend = new BackendWasm(module as unknown as ConstructorParameters<typeof BackendWasm>[0]);
        // The constructor started the XNNPACK pool's pthreads; Emscripten keeps running pthread workers ref'd,
        // so Node would never exit. They only talk through shared memory, which unref does not affect.
        for (const worker of module.PThread.runningWorkers) worker.unref();
        return backend;
      } catch (error) {
        console.warn(
          `installNodeWasmThreads: the threaded wasm build did not start (${(error as Error).message}); ` +
            'using the single-threaded build',
        );
        setThreadsCount(1);
        return stockFactory();
      }
    },
    2, // tfjs-backend-wasm's own priority
  );
  return { threads, threaded: true };
}

async function loadThreadedModule(threads: number): Promise<EmscriptenModule> {
  const require = createRequire(import.meta.url);
  const root = path.dirname(require.resolve(`${PACKAGE}/package.json`));
  const mainScript = path.join(root, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js');
  const binary = path.join(root, 'dist', 'tfjs-backend-wasm-threaded-simd.wasm');
  const factory = require(mainScript) as EmscriptenFactory;
  // The worker source ships as a template literal meant for a Blob; its "\n" escapes became real newlines.
  const { wasmWorkerContents } = require(
    path.join(root, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js'),
  ) as {
    wasmWorkerContents: string;
  };
  const workerSource = wasmWorkerContents.replace(/\n/g, '\\n');

  // Emscripten sets global.Worker = require('worker_threads').Worker while the factory runs and creates its
  // pthread workers with `new Worker(locateFile('...worker.js'))`: this subclass is what it picks up.
  const workerThreads = require('node:worker_threads') as typeof import('node:worker_threads');
  const NodeWorker = workerThreads.Worker;
  class PthreadWorker extends NodeWorker {
    constructor(file: string | URL, options: import('node:worker_threads').WorkerOptions = {}) {
      if (file === WORKER_SOURCE) super(workerSource, { ...options, eval: true, execArgv: [] });
      else super(file, { ...options, execArgv: [] });
    }
  }
  const cpus = os.cpus;
  const oneCpu = cpus()[0];
  workerThreads.Worker = PthreadWorker;
  os.cpus = () => Array.from({ length: 2 * threads }, () => oneCpu);
  let module: EmscriptenModule;
  try {
    module = await factory({
      locateFile: (file: string) =>
        file.endsWith('.worker.js')
          ? WORKER_SOURCE
          : file.endsWith('.wasm')
            ? binary
            : path.join(root, 'wasm-out', file),
      mainScriptUrlOrBlob: mainScript,
    });
  } finally {
    os.cpus = cpus;
    workerThreads.Worker = NodeWorker;
  }
  // The js <-> wasm bridge BackendWasm expects (tfjs-backend-wasm's init() builds the same one).
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  return module;
}
