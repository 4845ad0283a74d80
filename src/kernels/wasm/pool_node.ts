/**
 * Node-only: a thread pool for the project's WebAssembly SIMD kernels (src/kernels/wasm_module.ts) when the wasm backend
 * runs its threaded build, whose memory is shared. Each worker instantiates the same module over that memory and
 * sleeps in Atomics.wait on a small control block; a run hands every worker one share of the kernel's arguments,
 * runs the first share on the calling thread and waits for the rest, in bounded slices under a watchdog. Never
 * import this from browser code.
 *
 * The protocol (one round per kernel call of two or more shares):
 *   caller: write every worker's slot; running = workers; generation += 1; notify(generation); run share 0;
 *           wait until running = 0 (slices of at most WAIT_SLICE_MS; no worker reporting for the watchdog's
 *           limit, a count out of range or a dead worker is an error, never a silent hang)
 *   worker: wait until generation != the last one it ran; take its slot; run it; report; running -= 1 (the last
 *           one notifies the caller)
 * Every worker takes part in every round (an idle one just counts down), so the caller rewrites a slot only after
 * its worker has reported, and no generation is bumped twice before every worker has seen it.
 */
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { SimdThreadPool, SimdThreadPoolFactory } from './runtime';

/** The most i32 arguments a kernel takes. */
const MAX_ARGS = 32;
/** Control block header: the round's generation, then the workers still running it. */
const GENERATION = 0;
const RUNNING = 1;
const HEADER = 2;
/**
 * A worker's slot: kernel index (-1: nothing this round), argument count, the generation it last took and last
 * reported, whether its kernel trapped, whether the worker died, whether it has started, two test-only delays
 * (ms), then the arguments.
 */
const KERNEL = 0;
const ARGC = 1;
const TOOK = 2;
const REPORTED = 3;
const FAILED = 4;
const DEAD = 5;
const READY = 6;
const DELAY_BEFORE = 7;
const DELAY_AFTER = 8;
const ARGS = 9;
const SLOT = ARGS + MAX_ARGS;

/** Default watchdog limit: this long with a round's workers outstanding and none reporting is an error. */
export const DEFAULT_WATCHDOG_MS = 60_000;
/** The longest single Atomics.wait of the calling thread (the watchdog's granularity). */
const WAIT_SLICE_MS = 1_000;

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control, slot, names, layout, port } = workerData;
const { GENERATION, RUNNING, HEADER, SLOT, KERNEL, ARGC, TOOK, REPORTED, FAILED, DEAD, READY, DELAY_BEFORE, DELAY_AFTER, ARGS } = layout;
const ctrl = new Int32Array(control);
const base = HEADER + slot * SLOT;
const nap = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms) => { if (ms > 0) Atomics.wait(nap, 0, 0, ms); };
try {
  const kernels = new WebAssembly.Instance(module, { env: { memory } }).exports;
  Atomics.store(ctrl, base + READY, 1);
  // the generation the pool starts at (not a fresh load: a round published before this thread got here is ours)
  let seen = workerData.generation;
  for (;;) {
    // A wake-up is not a round: only a changed generation is. The interleaving this closes: the caller bumps the
    // generation to g and is descheduled before its notify; this worker, late back from round g - 1, finds g at
    // once (Atomics.wait: not-equal), runs its share, counts running down 1 -> 0 and waits on g; then the notify
    // arrives. Taken as a round, it ran share g again and counted down again, to -1: the caller, waiting for 0,
    // slept forever with every thread in futex_wait (or, had it already seen 0, a later round ended early).
    let generation;
    while ((generation = Atomics.load(ctrl, GENERATION)) === seen) Atomics.wait(ctrl, GENERATION, seen);
    seen = generation;
    Atomics.store(ctrl, base + TOOK, generation);
    const kernel = ctrl[base + KERNEL];
    const args = Array.from(ctrl.subarray(base + ARGS, base + ARGS + ctrl[base + ARGC]));
    // read before counting down: from then on the caller may rewrite the slot
    const after = ctrl[base + DELAY_AFTER];
    sleep(ctrl[base + DELAY_BEFORE]);
    if (kernel >= 0) {
      try {
        kernels[names[kernel]](...args);
      } catch (error) {
        port.postMessage(String(error));
        Atomics.store(ctrl, base + FAILED, 1);
      }
    }
    Atomics.store(ctrl, base + REPORTED, generation);
    if (Atomics.sub(ctrl, RUNNING, 1) === 1) Atomics.notify(ctrl, RUNNING);
    sleep(after);
  }
} catch (error) {
  port.postMessage(String(error));
  Atomics.store(ctrl, base + DEAD, 1);
  Atomics.notify(ctrl, RUNNING);
}
`;

/** How a pool's calling thread watches its workers. */
export interface NodeSimdPoolOptions {
  /**
   * A round with workers outstanding and none of them reporting for this long (ms) becomes an error naming the
   * kernel and the workers (default DEFAULT_WATCHDOG_MS); the limit is stretched to 4x the calling thread's own
   * share where that took longer (a slow machine runs every share slowly).
   */
  watchdogMs?: number;
  /** Test-only: called after a round is published and before the workers are notified. */
  afterPublish?: (generation: number) => void;
}

/** A factory for pools of `threads` threads (the calling one and threads - 1 workers). */
export function nodeSimdThreadPool(
  threads: number,
  options: NodeSimdPoolOptions = {},
): SimdThreadPoolFactory {
  return (module, memory) => new NodeSimdPool(module, memory, threads, options);
}

/** What the caller sees of one worker (for the watchdog's message and tests). */
export interface SimdWorkerState {
  /** It has instantiated the module and entered its loop. */
  started: boolean;
  /** The last generation it took, and the last it reported done. */
  took: number;
  reported: number;
}

export class NodeSimdPool implements SimdThreadPool {
  private readonly control: Int32Array;
  private readonly kernels: Record<string, (...args: number[]) => void>;
  /** The module's kernels in export order: a round names its kernel by index. */
  private readonly names: string[];
  private readonly workers: Worker[] = [];
  /** The workers' error reports (a trapped kernel, a worker that died). */
  private readonly ports: MessagePort[] = [];
  private readonly watchdogMs: number;
  private readonly afterPublish: ((generation: number) => void) | undefined;
  /** Test-only delays the next round hands to its workers, by slot. */
  private readonly delays = new Map<number, { beforeShareMs: number; afterReportMs: number }>();
  /** Why the pool stopped (a stuck or dead worker, a broken count); every later run throws it. */
  private stopped: string | null = null;
  private inRound = false;

  constructor(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    readonly threads: number,
    options: NodeSimdPoolOptions = {},
  ) {
    const watchdogMs = options.watchdogMs ?? DEFAULT_WATCHDOG_MS;
    if (!(watchdogMs > 0))
      throw new Error(`SIMD pool: watchdogMs must be a positive number of ms, got ${watchdogMs}`);
    this.watchdogMs = watchdogMs;
    this.afterPublish = options.afterPublish;
    this.kernels = new WebAssembly.Instance(module, { env: { memory } }).exports as typeof this.kernels;
    this.names = WebAssembly.Module.exports(module)
      .filter((entry) => entry.kind === 'function')
      .map((entry) => entry.name);
    this.control = new Int32Array(new SharedArrayBuffer((HEADER + (threads - 1) * SLOT) * 4));
    const layout = { GENERATION, RUNNING, HEADER, SLOT, KERNEL, ARGC, TOOK, REPORTED, FAILED, DEAD, READY };
    for (let slot = 0; slot < threads - 1; slot++) {
      const { port1, port2 } = new MessageChannel();
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
          generation: 0,
          layout: { ...layout, DELAY_BEFORE, DELAY_AFTER, ARGS },
          port: port2,
        },
        transferList: [port2],
      });
      // the workers only talk through shared memory; they must not keep the process alive
      worker.unref();
      this.workers.push(worker);
      this.ports.push(port1);
    }
  }

  run(kernel: string, shares: number[][]): void {
    if (this.stopped != null) throw new Error(`SIMD pool: stopped earlier: ${this.stopped}`);
    if (shares.length === 0) return;
    if (shares.length > this.threads)
      throw new Error(`SIMD pool: ${shares.length} shares for ${this.threads} threads`);
    const index = this.names.indexOf(kernel);
    if (index < 0) throw new Error(`SIMD pool: the module has no kernel '${kernel}'`);
    for (const share of shares) {
      if (share.length > MAX_ARGS)
        throw new Error(`SIMD pool: ${share.length} arguments, at most ${MAX_ARGS}`);
    }
    // one share needs no round: the workers sleep on
    if (shares.length === 1 && this.delays.size === 0) {
      this.kernels[kernel](...shares[0]);
      return;
    }
    if (this.inRound) throw new Error(`SIMD pool: ${kernel} called while a round is running`);
    this.inRound = true;
    try {
      this.round(kernel, index, shares);
    } finally {
      this.inRound = false;
    }
  }

  /** Stops the workers; later runs throw. */
  close(): Promise<void> {
    this.stopped ??= 'the pool was closed';
    return Promise.all(this.workers.map((worker) => worker.terminate())).then(() => undefined);
  }

  /** Test-only: the next round's worker in `slot` sleeps before its share and after reporting it. */
  delayNextRound(slot: number, delays: { beforeShareMs?: number; afterReportMs?: number }): void {
    this.delays.set(slot, { beforeShareMs: 0, afterReportMs: 0, ...delays });
  }

  /** The worker in `slot` as the caller sees it (slot i is thread i + 1; thread 0 is the caller). */
  workerState(slot: number): SimdWorkerState {
    const base = HEADER + slot * SLOT;
    return {
      started: Atomics.load(this.control, base + READY) === 1,
      took: Atomics.load(this.control, base + TOOK),
      reported: Atomics.load(this.control, base + REPORTED),
    };
  }

  private round(kernel: string, index: number, shares: number[][]): void {
    const ctrl = this.control;
    for (let slot = 0; slot < this.workers.length; slot++) {
      const base = HEADER + slot * SLOT;
      const share = shares[slot + 1];
      ctrl[base + KERNEL] = share == null ? -1 : index;
      ctrl[base + ARGC] = share?.length ?? 0;
      if (share != null) ctrl.set(share, base + ARGS);
      ctrl[base + FAILED] = 0;
      const delay = this.delays.get(slot);
      ctrl[base + DELAY_BEFORE] = delay?.beforeShareMs ?? 0;
      ctrl[base + DELAY_AFTER] = delay?.afterReportMs ?? 0;
    }
    this.delays.clear();
    Atomics.store(ctrl, RUNNING, this.workers.length);
    // Int32 generations wrap; only equality matters
    const generation = (Atomics.add(ctrl, GENERATION, 1) + 1) | 0;
    this.afterPublish?.(generation);
    Atomics.notify(ctrl, GENERATION);
    let error: unknown = null;
    const start = performance.now();
    try {
      this.kernels[kernel](...shares[0]);
    } catch (e) {
      error = e;
    }
    this.awaitWorkers(kernel, generation, performance.now() - start);
    if (error != null) throw error;
    const failed = this.workers.flatMap((_, slot) =>
      ctrl[HEADER + slot * SLOT + FAILED] !== 0 ? [`thread ${slot + 1}: ${this.report(slot)}`] : [],
    );
    if (failed.length > 0)
      throw new Error(`SIMD pool: the ${kernel} kernel failed on a worker thread (${failed.join('; ')})`);
  }

  /**
   * Waits for every worker of `generation` to report, in bounded slices: a count out of range, a dead worker or
   * no worker reporting for the watchdog's limit stops the pool with an error instead of a wait that never ends.
   */
  private awaitWorkers(kernel: string, generation: number, ownShareMs: number): void {
    const ctrl = this.control;
    const limit = Math.max(this.watchdogMs, 4 * ownShareMs);
    let left = Atomics.load(ctrl, RUNNING);
    let since = performance.now();
    while (left !== 0) {
      if (left < 0 || left > this.workers.length) {
        this.stop(
          `the ${kernel} kernel's round counted ${left} workers still running of ${this.workers.length} ` +
            '(a worker reported a round twice); the pool cannot tell which shares ran',
        );
      }
      const dead = this.workers.flatMap((_, slot) =>
        ctrl[HEADER + slot * SLOT + DEAD] !== 0 ? [`thread ${slot + 1} died: ${this.report(slot)}`] : [],
      );
      if (dead.length > 0) this.stop(`the ${kernel} kernel could not finish: ${dead.join('; ')}`);
      Atomics.wait(ctrl, RUNNING, left, Math.min(WAIT_SLICE_MS, limit));
      const now = Atomics.load(ctrl, RUNNING);
      if (now !== left) {
        left = now;
        since = performance.now();
      } else if (performance.now() - since >= limit) {
        this.stop(this.stallMessage(kernel, generation, left, limit));
      }
    }
  }

  private stallMessage(kernel: string, generation: number, left: number, limit: number): string {
    const late = this.workers.flatMap((_, slot) => {
      const { started, took, reported } = this.workerState(slot);
      if (reported === generation) return [];
      return [
        `thread ${slot + 1} ` +
          (!started
            ? 'has not started (its worker is still starting up, or failed to)'
            : took === generation
              ? 'took its share and has not finished it (stuck in the kernel, or descheduled)'
              : 'has not woken for this round'),
      ];
    });
    return (
      `the ${kernel} kernel has had ${left} of ${this.workers.length} worker shares outstanding with none ` +
      `finishing for ${(limit / 1000).toFixed(1)} s (watchdogMs ${this.watchdogMs}): ${late.join('; ')}. ` +
      'The workers were stopped; restart the process (threads = 1 runs without the pool)'
    );
  }

  /** Stops the pool for good: its shared state can no longer be trusted. */
  private stop(reason: string): never {
    this.stopped = reason;
    // a stuck worker that wakes later must not write memory the backend has since reused
    for (const worker of this.workers) void worker.terminate();
    throw new Error(`SIMD pool: ${reason}`);
  }

  /** The latest error message a worker posted. */
  private report(slot: number): string {
    let message = 'no message';
    for (
      let m = receiveMessageOnPort(this.ports[slot]);
      m != null;
      m = receiveMessageOnPort(this.ports[slot])
    )
      message = String(m.message);
    return message;
  }
}
