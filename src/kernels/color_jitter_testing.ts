// Test support for the colour-jitter kernels (not shipped code): pixels, a strong jitter config, a comparison.
import type { AugmentConfig } from '../engine/augment';
import { Rng } from '../nn/random';

/** Seeded pixels in [0, 1], with some grey pixels (r = g = b) and saturated ones, as real images have. */
export function jitterTestPixels(shape: [number, number, number, number], seed: number): Float32Array {
  const rng = new Rng(seed);
  const [n, h, w, c] = shape;
  const out = new Float32Array(n * h * w * c);
  for (let p = 0; p < n * h * w; p++) {
    const kind = rng.next();
    const grey = rng.next();
    for (let k = 0; k < c; k++)
      out[p * c + k] = kind < 0.15 ? grey : kind < 0.2 ? (k === 0 ? 1 : 0) : rng.next();
  }
  return out;
}

/** The largest absolute difference of two arrays of one length (throws for different lengths). */
export function worstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** Every jitter op likely, in every order, with large hue shifts. */
export const STRONG_JITTER: AugmentConfig = {
  crop: { scale: [0.3, 1], ratio: [3 / 4, 4 / 3] },
  flip: 0.5,
  jitter: { brightness: 0.8, contrast: 0.8, saturation: 0.8, hue: 0.5, p: 0.9 },
  grayscale: 0.2,
};
