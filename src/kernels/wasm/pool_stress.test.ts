import os from 'node:os';
import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { cpuBurners, hammerPool, hammeringProcess, stopAll } from './pool_testing';

// The SIMD pool under contention: tens of thousands of tiny kernel calls back to back (the rounds where a lost or
// doubled wake-up shows), pools with more threads than cores, other processes hammering pools of their own at the
// same time, every core but one busy with a CPU burner, and pauses at the protocol's critical points (jitter). Every
// share must run exactly once and no call may hang (the watchdog turns a hang into an error). Bounded by time, not
// by a round count, so it stays short on a slow machine.

let children: ChildProcess[] = [];

afterEach(() => {
  stopAll(children);
  children = [];
});

describe('SIMD pool under contention', () => {
  it('runs every share exactly once with more threads than cores, concurrent pools and a busy machine', async () => {
    const cores = os.availableParallelism();
    children = cpuBurners(Math.max(1, cores - 1));
    const others = [hammeringProcess(2, 4_000, 11), hammeringProcess(3, 4_000, 12)];
    children.push(...others.map((other) => other.child));
    const runs: { threads: number; budgetMs: number; jitter: boolean }[] = [
      // 2 threads (the CLI's --threads 2) as fast as the caller goes, then with jitter
      { threads: 2, budgetMs: 3_000, jitter: false },
      { threads: 2, budgetMs: 2_000, jitter: true },
      // more threads than cores
      { threads: cores + 2, budgetMs: 2_000, jitter: true },
    ];
    runs.forEach((run, seed) => {
      const result = hammerPool({ ...run, maxRounds: 1e9, watchdogMs: 20_000, seed });
      expect(result.wrongRows).toEqual([]);
      expect(result.poolRounds).toBeGreaterThan(100);
    });
    for (const other of others) {
      const result = await other.result;
      expect(result.wrongRows).toEqual([]);
      expect(result.poolRounds).toBeGreaterThan(100);
    }
  });
});
