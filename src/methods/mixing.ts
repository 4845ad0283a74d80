// Seeded random draws of the mixup methods (supremix, m3col): plain numbers from the run's seed and the step, so a
// resumed run draws exactly what the uninterrupted one drew, on every backend.
import { sampleBeta } from '../nn/beta';
import { Rng } from '../nn/random';

/** The random stream of optimizer step `step` of a method bound with `seed`. */
export function stepRng(seed: number, step: number, purpose: number): Rng {
  let x = (seed ^ Math.imul(purpose + 1, 0x9e3779b1) ^ Math.imul(step + 1, 0x85ebca6b)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
  return new Rng((x ^ (x >>> 16)) >>> 0);
}

/** `count` draws of Beta(a, b). */
export function betaDraws(rng: Rng, count: number, a: number, b: number): Float32Array {
  return Float32Array.from({ length: count }, () => sampleBeta(rng, a, b));
}
