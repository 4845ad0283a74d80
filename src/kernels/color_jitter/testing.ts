// Test support for the colour-jitter kernels (not shipped code): pixels, params rows drawn as the augmentation
// draws them, a comparison.
import { JITTER_PARAM_COUNT } from '../ops';

/** A seeded uniform generator on [0, 1) (mulberry32). */
export function seededUniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded pixels in [0, 1], with some grey pixels (r = g = b) and saturated ones, as real images have. */
export function jitterTestPixels(shape: [number, number, number, number], seed: number): Float32Array {
  const next = seededUniform(seed);
  const [n, h, w, c] = shape;
  const out = new Float32Array(n * h * w * c);
  for (let p = 0; p < n * h * w; p++) {
    const kind = next();
    const grey = next();
    for (let k = 0; k < c; k++) out[p * c + k] = kind < 0.15 ? grey : kind < 0.2 ? (k === 0 ? 1 : 0) : next();
  }
  return out;
}

/** Colour jitter strengths and probabilities, as the augmentation config gives them (torchvision's). */
export interface JitterStrengths {
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
  /** Probability of jittering an image. */
  p: number;
  /** Probability of converting an image to grayscale. */
  grayscale: number;
}

/** SimCLR's CIFAR-10 strengths (colour strength 0.5). */
export const SIMCLR_JITTER: JitterStrengths = {
  brightness: 0.4,
  contrast: 0.4,
  saturation: 0.4,
  hue: 0.1,
  p: 0.8,
  grayscale: 0.2,
};

/** Every jitter op likely, in every order, with large hue shifts. */
export const STRONG_JITTER: JitterStrengths = {
  brightness: 0.8,
  contrast: 0.8,
  saturation: 0.8,
  hue: 0.5,
  p: 0.9,
  grayscale: 0.2,
};

/**
 * Params rows (ops.ts: COLOR_JITTER_KERNEL) for n images, drawn as the augmentation draws them: jitter with
 * probability p, the four ops in a random order, factors ~ U[max(0, 1 - s), 1 + s], the hue shift ~ U[-h, h],
 * grayscale with its probability.
 */
export function jitterTestParams(n: number, strengths: JitterStrengths, seed: number): Float32Array {
  const next = seededUniform(seed);
  const uniform = (lo: number, hi: number) => lo + (hi - lo) * next();
  const factor = (s: number) => uniform(Math.max(0, 1 - s), 1 + s);
  const rows = new Float32Array(n * JITTER_PARAM_COUNT);
  for (let i = 0; i < n; i++) {
    const row = i * JITTER_PARAM_COUNT;
    const on = next() < strengths.p;
    const order = [0, 1, 2, 3];
    for (let k = 3; k > 0; k--) {
      const j = Math.floor(next() * (k + 1));
      [order[k], order[j]] = [order[j], order[k]];
    }
    const values = [
      factor(strengths.brightness),
      factor(strengths.contrast),
      factor(strengths.saturation),
      uniform(-strengths.hue, strengths.hue),
    ];
    rows[row] = on ? 1 : 0;
    rows.set(on ? order : [0, 1, 2, 3], row + 1);
    rows.set(on ? values : [1, 1, 1, 0], row + 5);
    rows[row + 9] = next() < strengths.grayscale ? 1 : 0;
  }
  return rows;
}

/** Two images jittered the same but in different orders (contrast before or after brightness). */
export function twoOrders(): Float32Array {
  const factors = [1.8, 0.3, 1, 0];
  return Float32Array.from([1, 0, 1, 2, 3, ...factors, 0, 1, 1, 0, 3, 2, ...factors, 0]);
}

/** The largest absolute difference of two arrays of one length (throws for different lengths). */
export function worstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}
