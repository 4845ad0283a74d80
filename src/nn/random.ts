/** Small seeded PRNG (mulberry32): deterministic on every backend and platform. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = (seed >>> 0) ^ 0x9e3779b9;
  }
  /** uniform in [0, 1) */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  /** integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  normal(): number {
    const u = Math.max(this.next(), 1e-12);
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }
  /** A derived seed, so sub-streams (init, augment, data order) stay independent. */
  fork(): number {
    return Math.floor(this.next() * 2 ** 31);
  }
}

/**
 * The seed to hand to TF.js's random ops and initializers. TF.js reads a seed of 0 as "no seed" and draws from
 * Math.random instead (rand_util: `seed ? seed : Math.random()`), so seed 0, and any `seed + k` that lands on 0,
 * would give different weights on every run. 0 maps to 2^31, a value no seed of this project reaches (config and
 * derived seeds are below 2^31); every other seed passes through unchanged.
 */
export function tfjsSeed(seed: number): number {
  return seed === 0 ? 2 ** 31 : seed;
}
