// Test support for the SIMD thread pool (not shipped code): many small in-place kernel calls that show a share run
// twice or skipped, and a busy machine made of processes that burn CPU or hammer pools of their own.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { simdModuleBytes } from '../wasm_module';
import { NodeSimdPool, type NodeSimdPoolOptions } from './pool_node';
import { splitTiles } from './runtime';

/** Rows of 4 float32s that the in-place adds count into; P (4 ones) sits before them. */
const ROWS = 64;
const P = 0;
const X = 64;

/** A pool of `threads` threads on a fresh one-page shared memory, and in-place adds whose runs it counts. */
export function countingPool(threads: number, options: NodeSimdPoolOptions = {}) {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const pool = new NodeSimdPool(new WebAssembly.Module(simdModuleBytes(true)), memory, threads, options);
  new Float32Array(memory.buffer, P, 4).fill(1);
  const rows = new Float32Array(memory.buffer, X, ROWS * 4);
  const expected = new Float64Array(ROWS);
  return {
    pool,
    /** Shares adding 1 to every value of rows [from, to), split `parts` ways, for `times` runs (counted now). */
    shares(from: number, to: number, parts: number, times = 1): number[][] {
      for (let r = from; r < to; r++) expected[r] += times;
      return splitTiles(to - from, parts).map(([a, b]) => [X, X, from + a, from + b, 4, P, 0, 0]);
    },
    /** Rows whose 4 values differ from the adds asked for (a share run twice, skipped or run half-way). */
    wrongRows(): number[] {
      const wrong: number[] = [];
      for (let r = 0; r < ROWS; r++) {
        for (let c = 0; c < 4; c++) if (rows[r * 4 + c] !== expected[r]) wrong.push(r);
      }
      return [...new Set(wrong)];
    },
  };
}

export interface HammerResult {
  rounds: number;
  /** Rounds of 2 or more shares (one share runs on the calling thread alone). */
  poolRounds: number;
  wrongRows: number[];
}

export interface HammerOptions {
  threads: number;
  budgetMs: number;
  maxRounds: number;
  watchdogMs: number;
  seed: number;
  jitter?: boolean;
}

/**
 * Runs in-place adds on a `threads`-thread pool back to back for `budgetMs` (at most `maxRounds` calls), as fast as
 * the calling thread can issue them (the narrow windows between a worker's report and its next wait are where
 * wake-ups get lost): calls cycle through 16 seeded row windows, most split `threads` ways, some into fewer shares,
 * so idle workers, uneven and tiny shares all occur. With `jitter`, now and then the caller pauses 1 ms between
 * publishing a round and notifying it, or a worker pauses 1 ms after reporting: the descheduling a busy machine does
 * at random, at the points of the protocol where it matters. Waits for the workers to start first. Throws what the
 * pool throws (a watchdog error for a hang).
 */
export function hammerPool(options: HammerOptions): HammerResult {
  let pauses = 0;
  const counting = countingPool(options.threads, {
    watchdogMs: options.watchdogMs,
    afterPublish: options.jitter ? () => void (++pauses % 7 === 0 && sleep(1)) : undefined,
  });
  try {
    return hammer(counting, options);
  } finally {
    void counting.pool.close();
  }
}

function hammer(counting: ReturnType<typeof countingPool>, options: HammerOptions): HammerResult {
  waitFor(
    () =>
      Array.from({ length: options.threads - 1 }, (_, s) => counting.pool.workerState(s).started).every(
        Boolean,
      ),
    options.watchdogMs,
    'the pool workers to start',
  );
  let s = options.seed >>> 0;
  const next = (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
  const windows = Array.from({ length: 16 }, () => {
    const from = next(ROWS);
    // mostly every thread (back-to-back rounds are where a worker comes back late), now and then fewer
    const parts = next(4) === 0 ? 1 + next(options.threads) : options.threads;
    return { from, to: from + 1 + next(ROWS - from), parts };
  });
  // the shares are built once per window, counted once per batch of 64 calls
  const batch = windows.map((w) => counting.shares(w.from, w.to, w.parts, 0));
  const end = performance.now() + options.budgetMs;
  let rounds = 0;
  let poolRounds = 0;
  while (rounds < options.maxRounds && performance.now() < end) {
    const calls = Math.min(64, options.maxRounds - rounds);
    for (let i = 0; i < calls; i++) {
      const w = i % 16;
      if (options.jitter && (rounds + i) % 61 === 0)
        counting.pool.delayNextRound((rounds + i) % (options.threads - 1), { afterReportMs: 1 });
      counting.pool.run('add', batch[w]);
      if (batch[w].length > 1) poolRounds++;
    }
    for (let i = 0; i < calls; i++) counting.shares(windows[i % 16].from, windows[i % 16].to, 1);
    rounds += calls;
  }
  return { rounds, poolRounds, wrongRows: counting.wrongRows() };
}

/** Sleeps the calling thread (blocking). */
export function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Blocks until `done()` or throws after `ms`, naming `what`. */
export function waitFor(done: () => boolean, ms: number, what: string): void {
  const end = performance.now() + ms;
  while (!done()) {
    if (performance.now() > end) throw new Error(`waited ${ms} ms for ${what}`);
    sleep(2);
  }
}

/** `count` processes that spin on a core each until stopped. */
export function cpuBurners(count: number): ChildProcess[] {
  return Array.from({ length: count }, () =>
    spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
  );
}

/**
 * A process hammering a pool of its own (`threads` threads, for `budgetMs`); `result` resolves to its HammerResult
 * and rejects with its output when it fails.
 */
export function hammeringProcess(
  threads: number,
  budgetMs: number,
  seed: number,
): { child: ChildProcess; result: Promise<HammerResult> } {
  const script =
    `import { hammerPool } from ${JSON.stringify(import.meta.url)};` +
    `console.log(JSON.stringify(hammerPool({ threads: ${threads}, budgetMs: ${budgetMs}, maxRounds: 1e9, watchdogMs: 20000, seed: ${seed} })));`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // `--import tsx` resolves from here up to the project's node_modules
    cwd: fileURLToPath(new URL('.', import.meta.url)),
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const result = new Promise<HammerResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve(JSON.parse(out.trim().split('\n').pop()!) as HammerResult);
      else reject(new Error(`hammering process exited with ${code}: ${out}`));
    });
  });
  return { child, result };
}

/** Stops processes started here (by their own handles). */
export function stopAll(children: ChildProcess[]): void {
  for (const child of children) if (child.exitCode == null) child.kill('SIGKILL');
}
