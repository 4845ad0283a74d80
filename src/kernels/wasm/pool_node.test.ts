import { afterEach, describe, expect, it } from 'vitest';
import { simdModuleBytes } from '../wasm_module';
import { NodeSimdPool } from './pool_node';
import { countingPool as makeCountingPool, sleep, waitFor } from './pool_testing';

// The SIMD pool's round protocol, with the interleavings that matter forced through its test hooks (delays handed
// to a worker for one round, a pause between publishing a round and notifying the workers).

const pools: NodeSimdPool[] = [];

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

function countingPool(...args: Parameters<typeof makeCountingPool>) {
  const counting = makeCountingPool(...args);
  pools.push(counting.pool);
  return counting;
}

function started(pool: NodeSimdPool, workers: number): void {
  waitFor(
    () => Array.from({ length: workers }, (_, s) => pool.workerState(s).started).every(Boolean),
    30_000,
    'the pool workers to start',
  );
}

describe('NodeSimdPool rounds', () => {
  it('a worker that finds a round by itself before the notify runs it once (the notify is not another round)', () => {
    // The caller bumps the generation, then notifies. A worker still on its way back from the previous round (here
    // sleeping after its report) sees the bump, runs its share, reports and goes back to Atomics.wait; only then
    // does the caller's notify arrive (here held back until the worker has reported). Taken as a new round, it ran
    // the share again and counted down twice: the count went to -1 and the caller waited for 0 forever.
    let holdNotify: ((generation: number) => void) | null = null;
    const counting = countingPool(2, {
      watchdogMs: 10_000,
      afterPublish: (generation) => holdNotify?.(generation),
    });
    const { pool } = counting;
    started(pool, 1);
    for (let i = 0; i < 3; i++) pool.run('add', counting.shares(0, 16, 2));
    for (let i = 0; i < 5; i++) {
      pool.delayNextRound(0, { afterReportMs: 100 });
      pool.run('add', counting.shares(0, 16, 2));
      holdNotify = (generation) => {
        waitFor(() => pool.workerState(0).reported === generation, 10_000, 'the worker to report');
        sleep(50); // the worker is back in Atomics.wait
      };
      pool.run('add', counting.shares(0, 16, 2));
      holdNotify = null;
      sleep(50); // a second run of the share (old protocol) lands in the rows by now
      expect(counting.wrongRows()).toEqual([]);
    }
    for (let i = 0; i < 100; i++) pool.run('add', counting.shares(0, 16, 2));
    expect(counting.wrongRows()).toEqual([]);
  });

  it('a worker still sleeping when a round is published takes it when it comes back, without a notify', () => {
    const counting = countingPool(3, { watchdogMs: 10_000 });
    const { pool } = counting;
    started(pool, 2);
    for (let i = 0; i < 20; i++) {
      pool.delayNextRound(i % 2, { afterReportMs: 20 });
      pool.run('add', counting.shares(0, 30, 3));
      // published while one worker is still asleep: the generation it finds is the notify it missed
      pool.run('add', counting.shares(5, 25, 3));
    }
    expect(counting.wrongRows()).toEqual([]);
  });

  it('runs one share on the calling thread without a round, and idle workers count down in rounds of fewer shares', () => {
    const counting = countingPool(4, { watchdogMs: 10_000 });
    const { pool } = counting;
    started(pool, 3);
    const before = [0, 1, 2].map((s) => pool.workerState(s).took);
    pool.run('add', counting.shares(0, 8, 1));
    expect([0, 1, 2].map((s) => pool.workerState(s).took)).toEqual(before);
    pool.run('add', counting.shares(0, 8, 2));
    // all three workers took part (two idle), each reported the same generation
    const states = [0, 1, 2].map((s) => pool.workerState(s));
    expect(new Set(states.map((s) => s.reported)).size).toBe(1);
    expect(states[0].reported).not.toBe(before[0]);
    expect(counting.wrongRows()).toEqual([]);
  });
});

describe('NodeSimdPool watchdog', () => {
  it('turns a stuck round into an error naming the kernel, the shares outstanding and the workers, then stays stopped', () => {
    const counting = countingPool(4, { watchdogMs: 400 });
    const { pool } = counting;
    started(pool, 3);
    pool.run('add', counting.shares(0, 40, 4));
    // thread 1 sleeps past the next publish (it will not have woken for it), thread 2 stalls in its share
    pool.delayNextRound(0, { afterReportMs: 3_000 });
    pool.run('add', counting.shares(0, 40, 4));
    pool.delayNextRound(1, { beforeShareMs: 3_000 });
    let message = '';
    try {
      pool.run('add', counting.shares(0, 40, 4));
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(
      /^SIMD pool: the add kernel has had 2 of 3 worker shares outstanding with none finishing for 0\.4 s \(watchdogMs 400\): /,
    );
    expect(message).toContain('thread 1 has not woken for this round');
    expect(message).toContain('thread 2 took its share and has not finished it');
    expect(message).not.toContain('thread 3');
    expect(message).toContain('restart the process');
    expect(() => pool.run('add', counting.shares(0, 8, 2))).toThrow(
      /^SIMD pool: stopped earlier: the add kernel has had 2 of 3/,
    );
  });

  it('lets a slow worker finish within the limit', () => {
    const counting = countingPool(2, { watchdogMs: 5_000 });
    const { pool } = counting;
    started(pool, 1);
    pool.delayNextRound(0, { beforeShareMs: 300 });
    pool.run('add', counting.shares(0, 10, 2));
    expect(counting.wrongRows()).toEqual([]);
  });

  it('rejects a watchdog limit that is not a positive number of ms', () => {
    const module = new WebAssembly.Module(simdModuleBytes(true));
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    expect(() => new NodeSimdPool(module, memory, 2, { watchdogMs: 0 })).toThrow(
      /watchdogMs must be a positive number of ms, got 0/,
    );
  });
});
