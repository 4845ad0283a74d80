import { Rng } from '../../nn/random';
import { once } from './lazy';
import type { Dataset, DatasetSplit } from './types';

export interface SyntheticOptions {
  seed: number;
  classes: number;
  trainCount: number;
  testCount: number;
  /** height = width in pixels */
  size: number;
  /** 1 (grayscale) to 4 */
  channels: number;
  /** standard deviation of the per-pixel Gaussian noise, in [0, 1] intensity units */
  noise: number;
}

export const SYNTHETIC_DEFAULTS: SyntheticOptions = {
  seed: 0,
  classes: 10,
  trainCount: 1000,
  testCount: 200,
  size: 16,
  channels: 3,
  noise: 0.06,
};

/**
 * Shape masks, one per class (cycling when classes > 10): (u, v) are pixel coordinates relative to the
 * shape's centre in units of its radius, so each returns whether that pixel is foreground.
 */
const SHAPES: ((u: number, v: number) => boolean)[] = [
  (u, v) => u * u + v * v <= 1, // disk
  (u, v) => Math.max(Math.abs(u), Math.abs(v)) <= 0.8, // square
  (u, v) => v <= 0.8 && Math.abs(u) <= (v + 1) / 2, // triangle, apex up
  (u, v) => u * u + v * v <= 1 && u * u + v * v >= 0.35, // ring
  (u, v) => Math.max(Math.abs(u), Math.abs(v)) <= 1 && Math.min(Math.abs(u), Math.abs(v)) <= 0.3, // plus
  (u, v) => Math.max(Math.abs(u), Math.abs(v)) <= 1 && Math.floor((v + 1) * 2.5) % 2 === 0, // horizontal stripes
  (u, v) => Math.max(Math.abs(u), Math.abs(v)) <= 1 && Math.floor((u + 1) * 2.5) % 2 === 0, // vertical stripes
  (u, v) => Math.abs(u) + Math.abs(v) <= 1, // diamond
  (u, v) => Math.max(Math.abs(u), Math.abs(v)) <= 1 && Math.abs(Math.abs(u) - Math.abs(v)) <= 0.3, // X
  (u, v) =>
    Math.max(Math.abs(u), Math.abs(v)) <= 1 && (Math.floor((u + 1) * 2) + Math.floor((v + 1) * 2)) % 2 === 0, // checker
];

/** Evenly spaced hues so every class also has its own colour: a fully saturated HSV colour, channels 0..2. */
function classColour(classIndex: number, classes: number, channels: number): number[] {
  const hue = (classIndex / classes) * 6;
  const sector = Math.floor(hue);
  const fraction = hue - sector;
  const rgb = [
    [1, fraction, 0],
    [1 - fraction, 1, 0],
    [0, 1, fraction],
    [0, 1 - fraction, 1],
    [fraction, 0, 1],
    [1, 0, 1 - fraction],
  ][sector % 6];
  if (channels === 1) return [0.4 + 0.6 * (classIndex / Math.max(1, classes - 1))]; // grayscale: class brightness
  return Array.from({ length: channels }, (_, c) => (c < 3 ? rgb[c] : 0.5 + 0.5 * Math.cos(classIndex)));
}

function checkOptions(options: SyntheticOptions): void {
  const integerRanges: [keyof SyntheticOptions, number, number][] = [
    ['classes', 2, 1000],
    ['trainCount', 1, 1e7],
    ['testCount', 1, 1e7],
    ['size', 4, 512],
    ['channels', 1, 4],
  ];
  for (const [key, lo, hi] of integerRanges) {
    const value = options[key];
    if (!Number.isInteger(value) || value < lo || value > hi)
      throw new Error(`synthetic dataset: ${key} must be an integer in ${lo}..${hi}, got ${value}`);
  }
  if (!(options.noise >= 0 && options.noise <= 1))
    throw new Error(`synthetic dataset: noise must be in [0, 1], got ${options.noise}`);
  if (!Number.isFinite(options.seed))
    throw new Error(`synthetic dataset: seed must be a finite number, got ${options.seed}`);
}

/**
 * `count` images, labels balanced (count/classes each, rest spread over the first classes) in seeded order; the
 * targets are each shape's radius in percent of the image side (28 to 42), the 'size' regression target.
 */
function generateSplit(options: SyntheticOptions, count: number, rng: Rng): DatasetSplit {
  const { classes, size, channels, noise } = options;
  const labels = Int32Array.from(rng.permutation(count), (position) => position % classes);
  const images = new Uint8Array(count * size * size * channels);
  const targets = new Float32Array(count);
  const colours = Array.from({ length: classes }, (_, k) => classColour(k, classes, channels));
  for (let i = 0; i < count; i++) {
    const label = labels[i];
    const shape = SHAPES[label % SHAPES.length];
    // Per image: a random dark background, position, size and brightness, so only shape + hue identify the class.
    const background = Array.from({ length: channels }, () => rng.uniform(0, 0.3));
    const brightness = rng.uniform(0.7, 1);
    const radius = size * rng.uniform(0.28, 0.42);
    targets[i] = (100 * radius) / size;
    const centreX = (size - 1) / 2 + size * rng.uniform(-0.15, 0.15);
    const centreY = (size - 1) / 2 + size * rng.uniform(-0.15, 0.15);
    let out = i * size * size * channels;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const inside = shape((x - centreX) / radius, (y - centreY) / radius);
        for (let c = 0; c < channels; c++) {
          const value = (inside ? colours[label][c] * brightness : background[c]) + noise * rng.normal();
          images[out++] = Math.round(255 * Math.min(1, Math.max(0, value)));
        }
      }
    }
  }
  return { images, labels, count, targets };
}

/**
 * A dataset generated from a seed, for tests and quick runs without downloads: each class is a distinct
 * shape (disk, square, triangle, ring, plus, stripes, diamond, X, checker) in its own hue, placed at a random
 * offset and scale on a random dark background, plus Gaussian pixel noise. Same options = same bytes.
 */
export function syntheticDataset(options: Partial<SyntheticOptions> = {}): Dataset {
  const resolved: SyntheticOptions = { ...SYNTHETIC_DEFAULTS, ...options };
  checkOptions(resolved);
  // Independent streams, so test() does not depend on whether train() ran first.
  const seeds = new Rng(resolved.seed);
  const trainSeed = seeds.fork();
  const testSeed = seeds.fork();
  const shapeNames = [
    'disk',
    'square',
    'triangle',
    'ring',
    'plus',
    'hstripes',
    'vstripes',
    'diamond',
    'x',
    'checker',
  ];
  return {
    name: 'synthetic',
    imageShape: [resolved.size, resolved.size, resolved.channels],
    classes: Array.from({ length: resolved.classes }, (_, k) =>
      k < SHAPES.length ? shapeNames[k] : `${shapeNames[k % SHAPES.length]}-${k}`,
    ),
    train: once(async () => generateSplit(resolved, resolved.trainCount, new Rng(trainSeed))),
    test: once(async () => generateSplit(resolved, resolved.testCount, new Rng(testSeed))),
  };
}
