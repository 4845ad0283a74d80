import * as tf from '@tensorflow/tfjs';
import { colorJitter, JITTER_PARAM_COUNT } from '../kernels/ops';
import type { Rng } from '../nn/random';
import type { ViewGeometry } from '../nn/pixel_pairs';
import { augmentConfigProblems } from './config';

// Seeded data augmentation as batched tensor ops. Every random parameter is drawn on the CPU from an Rng
// (sampleAugmentParams), then one pass of tensor ops applies them to the whole batch (applyAugmentParams),
// so the same seed gives the same views on every backend and the heavy work stays on the device.
// Images are float32 [N, H, W, C] with values in [0, 1] and C = 1 (grayscale) or 3 (RGB).
// The colour jitter and grayscale are one op of src/kernels/ops.ts (colorJitter), with the per-op functions
// re-exported here.

export {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  rgbToGrayscale,
} from '../kernels/ops';

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
 * The params of colorJitter (ops.ts), one row per image: [jitter on (0/1), order 0..3 (0 brightness, 1 contrast,
 * 2 saturation, 3 hue), brightness, contrast, saturation, hue shift, grayscale (0/1)]; the factors are 1 (and the
 * shift 0) when jitter is off.
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

/**
 * Throws a message naming every bad field and its allowed range (the RunConfig's augment schema, so the bounds
 * are those of config.ts); returns silently for a valid pipeline.
 */
export function validateAugmentConfig(cfg: AugmentConfig): void {
  const problems = augmentConfigProblems(cfg);
  if (problems.length > 0) throw new Error(`invalid augmentation: ${problems.join('; ')}`);
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
 * image's own order, each clipped to [0, 1], then grayscale, as one op (colorJitter: the project's kernel where
 * the backend registers one, else tfjs ops). Returns a new [N, outH, outW, C] tensor owned by the caller.
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
  const cropped = tf.tidy(() => {
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
  const out = colorJitter(cropped, jitterParamRows(params));
  if (out !== cropped) cropped.dispose();
  return out;
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
  return makeViewsWithGeometry(images, cfg, views, rng).views;
}

/** Each view's crop box (source pixels) and flip: what pixel-level objectives need to pair its cells up. */
export type { ViewGeometry } from '../nn/pixel_pairs';

/**
 * The views of makeViews and every view's geometry: geometry[v][i] is the crop box and flip of image i in view v
 * (PixPro's pixel correspondences). Per view it draws sampleAugmentParams, then applies them, as augmentBatch
 * does, so augmentBatch and these views agree for the same rng state; the caller disposes the views.
 */
export function makeViewsWithGeometry(
  images: tf.Tensor4D,
  cfg: AugmentConfig,
  views: ViewsConfig,
  rng: Rng,
): { views: tf.Tensor4D[]; geometry: ViewGeometry[][] } {
  const count = (name: string, value: number) => {
    if (!Number.isInteger(value) || value < 0)
      throw new Error(`views: ${name} must be an integer >= 0, got ${value}`);
  };
  count('large', views.large);
  count('small', views.small);
  if (views.large + views.small < 1)
    throw new Error('views: large + small must be at least 1 (2 for a contrastive loss)');
  const [n, height, width] = images.shape;
  const largeSize: [number, number] =
    views.largeSize === undefined ? [height, width] : [views.largeSize, views.largeSize];
  const smallCfg: AugmentConfig = {
    ...cfg,
    crop: { scale: views.smallScale, ratio: cfg.crop?.ratio ?? [3 / 4, 4 / 3] },
  };
  validateAugmentConfig(cfg);
  if (views.small > 0) validateAugmentConfig(smallCfg);
  const out: tf.Tensor4D[] = [];
  const geometry: ViewGeometry[][] = [];
  const one = (viewCfg: AugmentConfig, size: [number, number]) => {
    checkImages(images, size);
    const params = sampleAugmentParams(n, height, width, viewCfg, rng);
    out.push(applyAugmentParams(images, params, size));
    geometry.push(params.map((p) => ({ ...p.crop, flip: p.flip })));
  };
  try {
    for (let v = 0; v < views.large; v++) one(cfg, largeSize);
    for (let v = 0; v < views.small; v++) one(smallCfg, [views.smallSize, views.smallSize]);
  } catch (error) {
    out.forEach((t) => t.dispose());
    throw error;
  }
  return { views: out, geometry };
}
