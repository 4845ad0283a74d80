import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../nn/random';

// Seeded data augmentation as batched tensor ops. Every random parameter is drawn on the CPU from an Rng
// (sampleAugmentParams), then one pass of tensor ops applies them to the whole batch (applyAugmentParams),
// so the same seed gives the same views on every backend and the heavy work stays on the device.
// Images are float32 [N, H, W, C] with values in [0, 1] and C = 1 (grayscale) or 3 (RGB).

/** One augmentation pipeline, applied in the SimCLR order: crop -> flip -> colour jitter -> grayscale. */
export interface AugmentConfig {
  /** Random resized crop: area fraction range and aspect-ratio (width / height) range; null = whole image. */
  crop: { scale: [number, number]; ratio: [number, number] } | null;
  /** Probability of a horizontal flip. */
  flip: number;
  /** Colour jitter strengths (torchvision ColorJitter) and the probability p of jittering an image; null = off. */
  jitter: { brightness: number; contrast: number; saturation: number; hue: number; p: number } | null;
  /** Probability of converting an image to grayscale. */
  grayscale: number;
}

/** Multi-crop (SwAV): `large` views at `largeSize` and `small` views at `smallSize` from crops of area `smallScale`. */
export interface ViewsConfig {
  large: number;
  small: number;
  /** Side of the large views; default: the image's own height and width. */
  largeSize?: number;
  smallSize: number;
  smallScale: [number, number];
}

export const AUGMENT_PRESETS: Record<'simclr-cifar' | 'light' | 'none', AugmentConfig> = {
  // SimCLR CIFAR-10 (Chen et al. 2020, appendix B.9): colour strength s = 0.5 -> 0.8s, 0.8s, 0.8s, 0.2s; no blur.
  'simclr-cifar': {
    crop: { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] },
    flip: 0.5,
    jitter: { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1, p: 0.8 },
    grayscale: 0.2,
  },
  light: {
    crop: { scale: [0.5, 1], ratio: [3 / 4, 4 / 3] },
    flip: 0.5,
    jitter: { brightness: 0.2, contrast: 0.2, saturation: 0.2, hue: 0.05, p: 0.5 },
    grayscale: 0,
  },
  none: { crop: null, flip: 0, jitter: null, grayscale: 0 },
};

/** A crop in source pixels: rows [top, top + height), columns [left, left + width). */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

export type JitterOp = 'brightness' | 'contrast' | 'saturation' | 'hue';
const JITTER_OPS: JitterOp[] = ['brightness', 'contrast', 'saturation', 'hue'];

/** The random choices for one image, drawn by sampleAugmentParams. */
export interface ImageAugmentParams {
  crop: CropBox;
  flip: boolean;
  /** null when colour jitter is off or not drawn for this image. Factors are multiplicative, hue is a shift in turns. */
  jitter: { order: JitterOp[]; brightness: number; contrast: number; saturation: number; hue: number } | null;
  grayscale: boolean;
}

/**
 * Optional kernel a backend may register (the project's WebGPU set does, kernels/webgpu/color_jitter.ts): the
 * colour jitter and grayscale of applyAugmentParams for a whole batch in one pass, inputs x [N, H, W, C] and
 * params [N, JITTER_PARAM_COUNT] (jitterParamRows). Without it they run as tfjs ops on gathered sub-batches.
 */
export const COLOR_JITTER_KERNEL = 'ProjectColorJitter';
export const JITTER_PARAM_COUNT = 10;

/**
 * One row per image: [jitter on (0/1), order 0..3 (0 brightness, 1 contrast, 2 saturation, 3 hue), brightness,
 * contrast, saturation, hue shift, grayscale (0/1)]; the factors are 1 (and the shift 0) when jitter is off.
 */
export function jitterParamRows(params: ImageAugmentParams[]): Float32Array {
  const rows = new Float32Array(params.length * JITTER_PARAM_COUNT);
  params.forEach((p, i) => {
    const row = i * JITTER_PARAM_COUNT;
    const j = p.jitter;
    rows[row] = j ? 1 : 0;
    JITTER_OPS.forEach((op, k) => (rows[row + 1 + k] = j ? JITTER_OPS.indexOf(j.order[k]) : k));
    rows[row + 5] = j ? j.brightness : 1;
    rows[row + 6] = j ? j.contrast : 1;
    rows[row + 7] = j ? j.saturation : 1;
    rows[row + 8] = j ? j.hue : 0;
    rows[row + 9] = p.grayscale ? 1 : 0;
  });
  return rows;
}

/** ITU-R BT.601 luma weights for R, G, B. */
export const LUMA_WEIGHTS: [number, number, number] = [0.299, 0.587, 0.114];

/** Throws a message naming the bad field and its allowed range; returns silently for a valid config. */
export function validateAugmentConfig(cfg: AugmentConfig): void {
  const probability = (name: string, p: number) => {
    if (!(p >= 0 && p <= 1))
      throw new Error(`augment: ${name} is a probability and must be in [0, 1], got ${p}`);
  };
  if (cfg.crop) {
    const [smin, smax] = cfg.crop.scale;
    if (!(smin > 0 && smin <= smax && smax <= 1)) {
      throw new Error(`augment: crop.scale must satisfy 0 < min <= max <= 1, got [${smin}, ${smax}]`);
    }
    const [rmin, rmax] = cfg.crop.ratio;
    if (!(rmin > 0 && rmin <= rmax && Number.isFinite(rmax))) {
      throw new Error(
        `augment: crop.ratio (width / height) must satisfy 0 < min <= max, got [${rmin}, ${rmax}]`,
      );
    }
  }
  probability('flip', cfg.flip);
  probability('grayscale', cfg.grayscale);
  if (cfg.jitter) {
    for (const name of ['brightness', 'contrast', 'saturation'] as const) {
      const strength = cfg.jitter[name];
      if (!(strength >= 0 && Number.isFinite(strength))) {
        throw new Error(
          `augment: jitter.${name} must be a finite number >= 0 (0 turns it off), got ${strength}`,
        );
      }
    }
    if (!(cfg.jitter.hue >= 0 && cfg.jitter.hue <= 0.5)) {
      throw new Error(
        `augment: jitter.hue is a shift in turns and must be in [0, 0.5], got ${cfg.jitter.hue}`,
      );
    }
    probability('jitter.p', cfg.jitter.p);
  }
}

/** Python's round(): ties go to the even neighbour (2.5 -> 2, 3.5 -> 4). */
function roundHalfToEven(x: number): number {
  const nearest = Math.round(x);
  return Math.abs(x % 1) === 0.5 && nearest % 2 !== 0 ? nearest - 1 : nearest;
}

/**
 * torchvision's RandomResizedCrop.get_params: up to 10 tries of
 *   area = H W U(scale),  aspect = exp(U(log ratio)),  w = round(sqrt(area aspect)),  h = round(sqrt(area / aspect)),
 * accepted when 0 < w <= W and 0 < h <= H, placed uniformly; otherwise the central crop of the whole image
 * clamped to the ratio range. Rounding is half-to-even like Python's round(), so boxes match torchvision's.
 */
export function sampleCropBox(
  height: number,
  width: number,
  scale: [number, number],
  ratio: [number, number],
  rng: Rng,
): CropBox {
  const area = height * width;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logRatio[0], logRatio[1]));
    const w = roundHalfToEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfToEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      return { top: rng.int(height - h + 1), left: rng.int(width - w + 1), height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) {
    h = roundHalfToEven(w / ratio[0]);
  } else if (inRatio > ratio[1]) {
    w = roundHalfToEven(h * ratio[1]);
  }
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/**
 * Draws every random choice for n images of size height x width. Each image draws, in this order: its crop
 * (if cfg.crop), a flip coin, a jitter coin + op order + four factors (if cfg.jitter), a grayscale coin.
 * Coins are drawn even when their probability is 0 or 1, so changing a probability does not shift the other draws.
 * Jitter factors follow torchvision: brightness/contrast/saturation ~ U[max(0, 1 - s), 1 + s], hue ~ U[-h, h].
 */
export function sampleAugmentParams(
  n: number,
  height: number,
  width: number,
  cfg: AugmentConfig,
  rng: Rng,
): ImageAugmentParams[] {
  validateAugmentConfig(cfg);
  const factor = (strength: number) => rng.uniform(Math.max(0, 1 - strength), 1 + strength);
  return Array.from({ length: n }, () => {
    const crop = cfg.crop
      ? sampleCropBox(height, width, cfg.crop.scale, cfg.crop.ratio, rng)
      : { top: 0, left: 0, height, width };
    const flip = rng.next() < cfg.flip;
    let jitter: ImageAugmentParams['jitter'] = null;
    if (cfg.jitter) {
      const apply = rng.next() < cfg.jitter.p;
      const order = rng.permutation(4).map((k) => JITTER_OPS[k]);
      const brightness = factor(cfg.jitter.brightness);
      const contrast = factor(cfg.jitter.contrast);
      const saturation = factor(cfg.jitter.saturation);
      const hue = rng.uniform(-cfg.jitter.hue, cfg.jitter.hue);
      if (apply) jitter = { order, brightness, contrast, saturation, hue };
    }
    const grayscale = rng.next() < cfg.grayscale;
    return { crop, flip, jitter, grayscale };
  });
}

/** Per-image values as a [N, 1, 1, 1] tensor so they broadcast over height, width and channels. */
function perImage(values: number[]): tf.Tensor4D {
  return tf.tensor4d(values, [values.length, 1, 1, 1]);
}

/** Luma Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601) as [N, H, W, 1]; a 1-channel image is its own luma. */
export function rgbToGrayscale(images: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    if (images.shape[3] === 1) return images.clone();
    return tf.sum(tf.mul(images, tf.tensor1d(LUMA_WEIGHTS)), -1, true) as tf.Tensor4D;
  });
}

/** torchvision adjust_brightness: clip(f x, 0, 1), one factor per image. */
export function adjustBrightness(images: tf.Tensor4D, factors: number[]): tf.Tensor4D {
  return tf.tidy(() => tf.clipByValue(tf.mul(images, perImage(factors)), 0, 1) as tf.Tensor4D);
}

/** torchvision adjust_contrast: clip(f x + (1 - f) mean(Y), 0, 1), mean of the image's luma Y over all pixels. */
export function adjustContrast(images: tf.Tensor4D, factors: number[]): tf.Tensor4D {
  return tf.tidy(() => {
    const f = perImage(factors);
    const meanLuma = tf.mean(rgbToGrayscale(images), [1, 2, 3], true);
    return tf.clipByValue(tf.add(tf.mul(f, images), tf.mul(tf.sub(1, f), meanLuma)), 0, 1) as tf.Tensor4D;
  });
}

/** torchvision adjust_saturation: clip(f x + (1 - f) Y, 0, 1) with the per-pixel luma Y; no-op for 1 channel. */
export function adjustSaturation(images: tf.Tensor4D, factors: number[]): tf.Tensor4D {
  return tf.tidy(() => {
    if (images.shape[3] === 1) return images.clone();
    const f = perImage(factors);
    return tf.clipByValue(
      tf.add(tf.mul(f, images), tf.mul(tf.sub(1, f), rgbToGrayscale(images))),
      0,
      1,
    ) as tf.Tensor4D;
  });
}

/**
 * torchvision adjust_hue, in HSV: (h, s, v) = hsv(x), h <- frac(h + shift), x <- rgb(h, s, v); shift in turns
 * (0.5 = 180 degrees). Same formulas as torchvision's _rgb2hsv / _hsv2rgb, so it matches it up to float error.
 * No-op for 1-channel images.
 */
export function adjustHue(images: tf.Tensor4D, shifts: number[]): tf.Tensor4D {
  return tf.tidy(() => {
    if (images.shape[3] === 1) return images.clone();
    // each channel as Σ_k x_k · [k = c] over the last axis (exactly x_c): tfjs-backend-wasm splits along the last
    // axis element by element (SplitV, ~4.5 ms a call on a W2 view batch)
    const [r, g, b] = [0, 1, 2].map((c) => tf.sum(tf.mul(images, unitVector(c, 3)), -1, true));
    const maxc = tf.max(images, -1, true);
    const minc = tf.min(images, -1, true);
    const grey = tf.equal(maxc, minc);
    const chroma = tf.sub(maxc, minc);
    const ones = tf.onesLike(maxc);
    // grey pixels have no hue; dividing by 1 there keeps everything finite (as torchvision does)
    const saturation = tf.div(chroma, tf.where(grey, ones, maxc));
    const chromaDivisor = tf.where(grey, ones, chroma);
    const rc = tf.div(tf.sub(maxc, r), chromaDivisor);
    const gc = tf.div(tf.sub(maxc, g), chromaDivisor);
    const bc = tf.div(tf.sub(maxc, b), chromaDivisor);
    const maxIsR = tf.equal(maxc, r);
    const maxIsG = tf.logicalAnd(tf.equal(maxc, g), tf.logicalNot(maxIsR));
    const maxIsB = tf.logicalAnd(tf.logicalNot(tf.equal(maxc, g)), tf.logicalNot(maxIsR));
    const hueSixths = tf.addN([
      tf.mul(tf.cast(maxIsR, 'float32'), tf.sub(bc, gc)),
      tf.mul(tf.cast(maxIsG, 'float32'), tf.add(2, tf.sub(rc, bc))),
      tf.mul(tf.cast(maxIsB, 'float32'), tf.add(4, tf.sub(gc, rc))),
    ]);
    const fraction = (x: tf.Tensor) => tf.sub(x, tf.floor(x));
    // hue in turns, shifted; +2 keeps the argument positive so frac() is the usual modulo 1
    const hue = fraction(tf.add(tf.add(tf.div(hueSixths, 6), perImage(shifts)), 2));
    const value = maxc;

    const sector6 = tf.mul(hue, 6);
    const sectorFloor = tf.floor(sector6);
    const within = tf.sub(sector6, sectorFloor);
    const sector = tf.cast(tf.mod(sectorFloor, 6), 'int32');
    const p = tf.clipByValue(tf.mul(value, tf.sub(1, saturation)), 0, 1);
    const q = tf.clipByValue(tf.mul(value, tf.sub(1, tf.mul(saturation, within))), 0, 1);
    const t = tf.clipByValue(tf.mul(value, tf.sub(1, tf.mul(saturation, tf.sub(1, within)))), 0, 1);
    // sector k in 0..5 picks (R, G, B) from these six candidates each: Σ_k [sector = k] · candidate_k, where
    // every other term is an exact 0. (Not a concat along the channel axis and a sum: tfjs-backend-wasm
    // concatenates [n, h, w, 1] tensors along the last axis element by element, 8-36 ms a call in a W2 step.)
    const inSector = Array.from({ length: 6 }, (_, k) => tf.cast(tf.equal(sector, k), 'float32'));
    const pick = (candidates: tf.Tensor[]) => tf.addN(candidates.map((c, k) => tf.mul(inSector[k], c)));
    return stackChannels([
      pick([value, q, p, p, t, value]),
      pick([t, value, value, q, p, p]),
      pick([p, p, t, value, value, q]),
    ]);
  });
}

/** e_c: the c-th unit vector of length `count` (1 at c, 0 elsewhere). */
function unitVector(c: number, count: number): tf.Tensor1D {
  return tf.tensor1d(Array.from({ length: count }, (_, k) => (k === c ? 1 : 0)));
}

/**
 * [n, h, w, 1] channels into one [n, h, w, C] image, as Σ_c channel_c · e_c (e_c broadcast along the last
 * axis): the same values as a concat along the last axis (the other terms are exact zeros), without
 * tfjs-backend-wasm's element-by-element last-axis Concat.
 */
function stackChannels(channels: tf.Tensor[]): tf.Tensor4D {
  return tf.addN(
    channels.map((channel, c) => tf.mul(channel, unitVector(c, channels.length))),
  ) as tf.Tensor4D;
}

/** Grayscale as a colour image: luma replicated to every channel. */
function grayscaleReplicated(images: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.tile(rgbToGrayscale(images), [1, 1, 1, images.shape[3]]) as tf.Tensor4D);
}

/** How far inside the first and last pixel a crop's edges sample (in pixels); see cropToBox. */
const EDGE_INSET = 1e-4;

/**
 * Box for tf.image.cropAndResize (normalised [y1, x1, y2, x2] at sample centres, corners aligned) that samples
 * the crop with half-pixel centres like an ordinary resize: output pixel k of `out` maps to source coordinate
 * start + (k + 0.5) size / out - 0.5. The two ends are clamped into the image (edge replication instead of the
 * extrapolation value when upsampling). A flip swaps x1 and x2, which mirrors the sample points exactly.
 */
function cropToBox(
  crop: CropBox,
  flip: boolean,
  height: number,
  width: number,
  outSize: [number, number],
): number[] {
  const axis = (start: number, size: number, out: number, full: number): [number, number] => {
    // Both ends stay EDGE_INSET inside the first and last pixel: cropAndResize recomputes each sample coordinate
    // in float32 and gives the extrapolation value (0) when it lands outside the image, which a sample at exactly
    // 0 or full - 1 did on webgpu for some crops (black pixels along an edge, flipped crops at the left edge too;
    // cpu and wasm kept them). The identity along an axis keeps its exact ends (its coordinates are integers).
    const identity = start === 0 && size === full && out === full;
    const inset = identity ? 0 : EDGE_INSET;
    const clamp = (c: number) => Math.min(Math.max(c, inset), full - 1 - inset);
    const first = clamp(start + (0.5 * size) / out - 0.5);
    const last = clamp(start + size - (0.5 * size) / out - 0.5);
    const denominator = Math.max(full - 1, 1);
    return [first / denominator, last / denominator];
  };
  const [y1, y2] = axis(crop.top, crop.height, outSize[0], height);
  const [x1, x2] = axis(crop.left, crop.width, outSize[1], width);
  return flip ? [y1, x2, y2, x1] : [y1, x1, y2, x2];
}

function checkImages(images: tf.Tensor4D, outSize: [number, number]): void {
  if (images.rank !== 4 || images.dtype !== 'float32') {
    throw new Error(
      `augment: images must be float32 [N, H, W, C], got ${images.dtype} [${images.shape.join(', ')}]`,
    );
  }
  const channels = images.shape[3];
  if (channels !== 1 && channels !== 3) {
    throw new Error(`augment: images need 1 (grayscale) or 3 (RGB) channels, got ${channels}`);
  }
  if (!outSize.every((s) => Number.isInteger(s) && s >= 1)) {
    throw new Error(
      `augment: outSize must be two positive integers [height, width], got [${outSize.join(', ')}]`,
    );
  }
}

/**
 * Applies drawn parameters to a batch: one cropAndResize for crop + flip + resize, then the jitter ops in each
 * image's own order (at position k, op o is applied to the images whose order has o at k, gathered into a
 * sub-batch), each clipped to [0, 1], then grayscale; or, where the backend registers COLOR_JITTER_KERNEL, the
 * jitter and grayscale in that one kernel. Returns a new [N, outH, outW, C] tensor owned by the caller.
 */
export function applyAugmentParams(
  images: tf.Tensor4D,
  params: ImageAugmentParams[],
  outSize: [number, number],
): tf.Tensor4D {
  checkImages(images, outSize);
  const [n, height, width] = images.shape;
  if (params.length !== n) {
    throw new Error(
      `augment: got ${params.length} parameter sets for a batch of ${n} images; draw one per image`,
    );
  }
  let x = tf.tidy(() => {
    const boxes = tf.tensor2d(
      params.map((p) => cropToBox(p.crop, p.flip, height, width, outSize)),
      [n, 4],
    );
    const boxIndices = tf.tensor1d(
      Array.from({ length: n }, (_, i) => i),
      'int32',
    );
    return tf.image.cropAndResize(images, boxes, boxIndices, outSize, 'bilinear');
  });
  if (tf.getKernel(COLOR_JITTER_KERNEL, tf.getBackend()) != null) {
    const cropped = x;
    const out = tf.tidy(() => {
      const rows = tf.tensor2d(jitterParamRows(params), [n, JITTER_PARAM_COUNT]);
      return tf.engine().runKernel(COLOR_JITTER_KERNEL, { x: cropped, params: rows }, {}) as tf.Tensor4D;
    });
    cropped.dispose();
    return out;
  }
  // Each step replaces x inside its own tidy so at most two full batches are alive at a time.
  const replace = (step: (current: tf.Tensor4D) => tf.Tensor4D) => {
    const next = tf.tidy(() => step(x));
    x.dispose();
    x = next;
  };
  // An op runs only on the images that take it (gather, transform, then put every image back in place with
  // one gather over [untouched, transformed]): each image pays for its own four ops, not 16, and no tf.where.
  const onSubset = (
    selected: boolean[],
    transform: (subset: tf.Tensor4D, subsetParams: ImageAugmentParams[]) => tf.Tensor4D,
  ) => {
    const chosen = selected.flatMap((s, i) => (s ? [i] : []));
    if (chosen.length === 0) return;
    if (chosen.length === n) {
      replace((current) => transform(current, params));
      return;
    }
    const untouched = selected.flatMap((s, i) => (s ? [] : [i]));
    const placement = new Int32Array(n);
    [...untouched, ...chosen].forEach((image, slot) => (placement[image] = slot));
    replace((current) => {
      const changed = transform(
        tf.gather(current, chosen),
        chosen.map((i) => params[i]),
      );
      return tf.gather(tf.concat([tf.gather(current, untouched), changed]), placement) as tf.Tensor4D;
    });
  };

  for (let position = 0; position < JITTER_OPS.length; position++) {
    const opAt = (p: ImageAugmentParams, op: JitterOp) =>
      p.jitter !== null && p.jitter.order[position] === op;
    onSubset(
      params.map((p) => opAt(p, 'brightness')),
      (c, ps) =>
        adjustBrightness(
          c,
          ps.map((p) => p.jitter!.brightness),
        ),
    );
    onSubset(
      params.map((p) => opAt(p, 'contrast')),
      (c, ps) =>
        adjustContrast(
          c,
          ps.map((p) => p.jitter!.contrast),
        ),
    );
    if (x.shape[3] === 3) {
      onSubset(
        params.map((p) => opAt(p, 'saturation')),
        (c, ps) =>
          adjustSaturation(
            c,
            ps.map((p) => p.jitter!.saturation),
          ),
      );
      // a zero shift is skipped: the HSV round trip is only exact up to float error
      onSubset(
        params.map((p) => opAt(p, 'hue') && p.jitter?.hue !== 0),
        (c, ps) =>
          adjustHue(
            c,
            ps.map((p) => p.jitter!.hue),
          ),
      );
    }
  }
  if (x.shape[3] === 3)
    onSubset(
      params.map((p) => p.grayscale),
      (c) => grayscaleReplicated(c),
    );
  return x;
}

/**
 * One augmented view of every image: sampleAugmentParams then applyAugmentParams, resized to outSize
 * [height, width]. SimCLR order (Chen et al. 2020): random resized crop -> horizontal flip -> colour jitter
 * with probability p (brightness, contrast, saturation, hue in a random order per image) -> grayscale.
 * Hue is rotated in HSV as in torchvision. The input is not disposed; the caller owns the result.
 */
export function augmentBatch(
  images: tf.Tensor4D,
  cfg: AugmentConfig,
  outSize: [number, number],
  rng: Rng,
): tf.Tensor4D {
  checkImages(images, outSize);
  const [n, height, width] = images.shape;
  return applyAugmentParams(images, sampleAugmentParams(n, height, width, cfg, rng), outSize);
}

/**
 * Multi-crop views (Caron et al. 2020, SwAV): `large` views with cfg at largeSize (default: the image size),
 * then `small` views with cfg but crop scale `smallScale` (crop ratio from cfg, or [3/4, 4/3] when cfg has no
 * crop) at smallSize. Returned in that order, each [N, size, size, C]; the caller disposes them.
 */
export function makeViews(
  images: tf.Tensor4D,
  cfg: AugmentConfig,
  views: ViewsConfig,
  rng: Rng,
): tf.Tensor4D[] {
  const count = (name: string, value: number) => {
    if (!Number.isInteger(value) || value < 0)
      throw new Error(`views: ${name} must be an integer >= 0, got ${value}`);
  };
  count('large', views.large);
  count('small', views.small);
  if (views.large + views.small < 1)
    throw new Error('views: large + small must be at least 1 (2 for a contrastive loss)');
  const [, height, width] = images.shape;
  const largeSize: [number, number] =
    views.largeSize === undefined ? [height, width] : [views.largeSize, views.largeSize];
  const smallCfg: AugmentConfig = {
    ...cfg,
    crop: { scale: views.smallScale, ratio: cfg.crop?.ratio ?? [3 / 4, 4 / 3] },
  };
  if (views.small > 0) validateAugmentConfig(smallCfg);
  const out: tf.Tensor4D[] = [];
  try {
    for (let v = 0; v < views.large; v++) out.push(augmentBatch(images, cfg, largeSize, rng));
    for (let v = 0; v < views.small; v++)
      out.push(augmentBatch(images, smallCfg, [views.smallSize, views.smallSize], rng));
  } catch (error) {
    out.forEach((t) => t.dispose());
    throw error;
  }
  return out;
}
