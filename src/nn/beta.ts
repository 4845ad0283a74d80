import type { Rng } from './random';

/**
 * A Gamma(shape, 1) draw (Marsaglia & Tsang 2000): for shape >= 1, d = shape - 1/3, c = 1/sqrt(9d), repeat
 * x ~ N(0, 1), v = (1 + c x)^3 until log u < x^2/2 + d - d v + d log v, return d v; for shape < 1, a
 * Gamma(shape + 1) draw times u^(1/shape).
 */
export function sampleGamma(rng: Rng, shape: number): number {
  if (!(shape > 0) || !Number.isFinite(shape)) throw new Error(`gamma shape must be > 0, got ${shape}`);
  if (shape < 1) {
    const u = Math.max(rng.next(), 1e-300);
    return sampleGamma(rng, shape + 1) * Math.pow(u, 1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = Math.max(rng.next(), 1e-300);
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** A Beta(a, b) draw in [0, 1]: X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b) (0.5 if both underflow to 0). */
export function sampleBeta(rng: Rng, a: number, b: number): number {
  const x = sampleGamma(rng, a);
  const y = sampleGamma(rng, b);
  const sum = x + y;
  return sum > 0 ? x / sum : 0.5;
}
