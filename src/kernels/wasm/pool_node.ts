/**
 * Node-only: a thread pool for the project's WebAssembly SIMD kernels (src/kernels/wasm_module.ts) when the wasm backend
 * runs its threaded build, whose memory is shared. Each worker instantiates the same module over that memory and
 * sleeps in Atomics.wait on a small control block; a run hands every worker one share of the kernel's arguments,
 * runs the first share on the calling thread and waits for the rest. Never import this from browser code.
 */
import { Worker } from 'node:worker_threads';
import type { SimdThreadPool, SimdThreadPoolFactory } from './runtime';

/** The most i32 arguments a kernel takes. */
const MAX_ARGS = 32;
/** Control block: [0] generation, [1] workers still running, [2] error flag, then one slot per worker. */
const HEADER = 3;
/** A slot: kernel index (-1: nothing this round), argument count, arguments. */
const SLOT = 2 + MAX_ARGS;

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control, slot, names, header, slotInts } = workerData;
const kernels = new WebAssembly.Instance(module, { env: { memory } }).exports;
const ctrl = new Int32Array(control);
const base = header + slot * slotInts;
let generation = 0;
for (;;) {
  Atomics.wait(ctrl, 0, generation);
  generation = Atomics.load(ctrl, 0);
  const kernel = ctrl[base];
  if (kernel >= 0) {
    const args = Array.from(ctrl.subarray(base + 2, base + 2 + ctrl[base + 1]));
    try {
      kernels[names[kernel]](...args);
    } catch (error) {
      Atomics.store(ctrl, 2, 1);
    }
  }
  if (Atomics.sub(ctrl, 1, 1) === 1) Atomics.notify(ctrl, 1);
}
`;

/** A factory for pools of `threads` threads (the calling one and threads - 1 workers). */
export function nodeSimdThreadPool(threads: number): SimdThreadPoolFactory {
  return (module, memory) => new NodeSimdPool(module, memory, threads);
}

class NodeSimdPool implements SimdThreadPool {
  private readonly control: Int32Array;
  private readonly kernels: Record<string, (...args: number[]) => void>;
  /** The module's kernels in export order: a round names its kernel by index. */
  private readonly names: string[];
  private readonly workers: Worker[] = [];

  constructor(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    readonly threads: number,
  ) {
    this.kernels = new WebAssembly.Instance(module, { env: { memory } }).exports as typeof this.kernels;
    this.names = WebAssembly.Module.exports(module)
      .filter((entry) => entry.kind === 'function')
      .map((entry) => entry.name);
    this.control = new Int32Array(new SharedArrayBuffer((HEADER + (threads - 1) * SLOT) * 4));
    for (let slot = 0; slot < threads - 1; slot++) {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        // no loader hooks (tsx's) in a thread that never returns to its event loop
        execArgv: [],
        workerData: {
          module,
          memory,
          control: this.control.buffer,
          slot,
          names: this.names,
          header: HEADER,
          slotInts: SLOT,
        },
      });
      // the workers only talk through shared memory; they must not keep the process alive
      worker.unref();
      this.workers.push(worker);
    }
  }

  run(kernel: string, shares: number[][]): void {
    if (shares.length === 0) return;
    if (shares.length > this.threads)
      throw new Error(`SIMD pool: ${shares.length} shares for ${this.threads} threads`);
    const ctrl = this.control;
    const index = this.names.indexOf(kernel);
    if (index < 0) throw new Error(`SIMD pool: the module has no kernel '${kernel}'`);
    for (let slot = 0; slot < this.workers.length; slot++) {
      const base = HEADER + slot * SLOT;
      const share = shares[slot + 1];
      if (share == null) {
        ctrl[base] = -1;
        continue;
      }
      if (share.length > MAX_ARGS)
        throw new Error(`SIMD pool: ${share.length} arguments, at most ${MAX_ARGS}`);
      ctrl[base] = index;
      ctrl[base + 1] = share.length;
      ctrl.set(share, base + 2);
    }
    Atomics.store(ctrl, 2, 0);
    Atomics.store(ctrl, 1, this.workers.length);
    Atomics.add(ctrl, 0, 1);
    Atomics.notify(ctrl, 0);
    let error: unknown = null;
    try {
      this.kernels[kernel](...shares[0]);
    } catch (e) {
      error = e;
    }
    // every worker takes part in every round (an idle one just counts down), so no slot is rewritten while read
    for (let left = Atomics.load(ctrl, 1); left !== 0; left = Atomics.load(ctrl, 1))
      Atomics.wait(ctrl, 1, left);
    if (error != null) throw error;
    if (Atomics.load(ctrl, 2) !== 0)
      throw new Error(`SIMD pool: the ${kernel} kernel failed on a worker thread`);
  }
}
