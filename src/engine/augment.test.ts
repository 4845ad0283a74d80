import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Rng } from '../nn/random';
import {
  adjustContrast,
  adjustHue,
  adjustSaturation,
  applyAugmentParams,
  AUGMENT_PRESETS,
  augmentBatch,
  type AugmentConfig,
  makeViews,
  sampleAugmentParams,
  sampleCropBox,
  type ImageAugmentParams,
} from './augment';
import { augmentConfigProblems, parseRunConfig } from './config';

type Image = number[][][]; // [H][W][C]

const NONE = AUGMENT_PRESETS.none;

function randomImages(seed: number, n: number, h: number, w: number, c: number): tf.Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(
    Array.from({ length: n * h * w * c }, () => rng.next()),
    [n, h, w, c],
  );
}

/** n copies of an image whose channel 0 is x / (W - 1), channel 1 is y / (H - 1), channel 2 is 0.5. */
function rampImages(n: number, size: number): tf.Tensor4D {
  const values: number[] = [];
  for (let i = 0; i < n; i++)
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) values.push(x / (size - 1), y / (size - 1), 0.5);
  return tf.tensor4d(values, [n, size, size, 3]);
}

function toImages(t: tf.Tensor4D): Image[] {
  return t.arraySync() as Image[];
}

const pixels = (image: Image): number[][] => image.flat();

/**
 * The crop a ramp-image view came from, in source pixels: with half-pixel sampling the first and last output
 * pixel sit at start + size/(2 out) - 0.5 and start + size - size/(2 out) - 0.5.
 */
function recoverCrop(
  view: Image,
  source: number,
): { left: number; top: number; width: number; height: number } {
  const out = view.length;
  const xFirst = view[0][0][0] * (source - 1);
  const xLast = view[0][out - 1][0] * (source - 1);
  const yFirst = view[0][0][1] * (source - 1);
  const yLast = view[out - 1][0][1] * (source - 1);
  const width = ((xLast - xFirst) * out) / (out - 1);
  const height = ((yLast - yFirst) * out) / (out - 1);
  return { left: xFirst - width / (2 * out) + 0.5, top: yFirst - height / (2 * out) + 0.5, width, height };
}

// ---- plain-number references (Python colorsys formulas, which torchvision's tensor code reproduces) ----
function rgbToHsv([r, g, b]: number[]): number[] {
  const maxc = Math.max(r, g, b);
  const minc = Math.min(r, g, b);
  if (maxc === minc) return [0, 0, maxc];
  const s = (maxc - minc) / maxc;
  const rc = (maxc - r) / (maxc - minc);
  const gc = (maxc - g) / (maxc - minc);
  const bc = (maxc - b) / (maxc - minc);
  const h = r === maxc ? bc - gc : g === maxc ? 2 + rc - bc : 4 + gc - rc;
  return [(((h / 6) % 1) + 1) % 1, s, maxc];
}
function hsvToRgb([h, s, v]: number[]): number[] {
  const i = Math.floor(h * 6);
  const f = h * 6 - i;
  const p = v * (1 - s);
  const q = v * (1 - s * f);
  const t = v * (1 - s * (1 - f));
  return [
    [v, t, p],
    [q, v, p],
    [p, v, t],
    [p, q, v],
    [t, p, v],
    [v, p, q],
  ][((i % 6) + 6) % 6];
}
const luma = ([r, g, b]: number[]) => 0.299 * r + 0.587 * g + 0.114 * b;
const clip01 = (x: number) => Math.min(1, Math.max(0, x));

function maxAbsDiff(a: number[], b: number[]): number {
  return a.reduce((worst, x, i) => Math.max(worst, Math.abs(x - b[i])), 0);
}

describe('random resized crop', () => {
  it('sampleCropBox keeps boxes inside the image with area and aspect in range', () => {
    const rng = new Rng(1);
    const fractions: number[] = [];
    for (let k = 0; k < 2000; k++) {
      const box = sampleCropBox(32, 32, [0.08, 1], [3 / 4, 4 / 3], rng);
      expect(box.top).toBeGreaterThanOrEqual(0);
      expect(box.left).toBeGreaterThanOrEqual(0);
      expect(box.top + box.height).toBeLessThanOrEqual(32);
      expect(box.left + box.width).toBeLessThanOrEqual(32);
      const fraction = (box.width * box.height) / 1024;
      // w and h are rounded to whole pixels: |w h - A| <= (w + h) / 2 + 1/4 <= 32.25 pixels
      expect(fraction).toBeGreaterThanOrEqual(0.08 - 33 / 1024);
      fractions.push(fraction);
      if (fraction < 1) {
        // rounding moves the aspect by at most about a pixel on each side
        expect(box.width / box.height).toBeGreaterThan((3 / 4) * (1 - 2 / box.height) - 1e-9);
        expect(box.width / box.height).toBeLessThan((4 / 3) * (1 + 2 / box.width) + 1e-9);
      }
    }
    expect(Math.min(...fractions)).toBeLessThan(0.1);
    expect(Math.max(...fractions)).toBeGreaterThan(0.95);
  });

  it('falls back to the central crop clamped to the ratio range when 10 tries fail', () => {
    // every try needs w = sqrt(area * aspect) >= sqrt(90 * 2) > 10, so all fail; fallback h = round(10 / 2)
    expect(sampleCropBox(10, 10, [0.9, 1], [2, 3], new Rng(3))).toEqual({
      top: 2,
      left: 0,
      height: 5,
      width: 10,
    });
    // tall target ratio on a square image: w = round(10 * 0.25) = 2 with Python's half-to-even rounding
    expect(sampleCropBox(10, 10, [0.9, 1], [0.2, 0.25], new Rng(3))).toEqual({
      top: 0,
      left: 4,
      height: 10,
      width: 2,
    });
    expect(sampleCropBox(10, 14, [0.9, 1], [0.2, 0.25], new Rng(3))).toEqual({
      top: 0,
      left: 6,
      height: 10,
      width: 2,
    });
  });

  it('views show exactly the drawn crop and its area fraction stays within the scale range', () => {
    const cfg: AugmentConfig = { ...NONE, crop: { scale: [0.2, 0.3], ratio: [3 / 4, 4 / 3] } };
    const images = rampImages(100, 64);
    const params = sampleAugmentParams(100, 64, 64, cfg, new Rng(5));
    const out = augmentBatch(images, cfg, [4, 4], new Rng(5));
    const fractions = toImages(out).map((view, i) => {
      const crop = recoverCrop(view, 64);
      expect(crop.width).toBeCloseTo(params[i].crop.width, 3);
      expect(crop.height).toBeCloseTo(params[i].crop.height, 3);
      expect(crop.left).toBeCloseTo(params[i].crop.left, 3);
      expect(crop.top).toBeCloseTo(params[i].crop.top, 3);
      return (crop.width * crop.height) / (64 * 64);
    });
    // rounding w and h to pixels moves the area by at most (w + h) / 2 + 1/4 <= 35 pixels = 0.0086
    expect(Math.min(...fractions)).toBeGreaterThan(0.2 - 0.009);
    expect(Math.max(...fractions)).toBeLessThan(0.3 + 0.009);
    expect(Math.min(...fractions)).toBeLessThan(0.22);
    expect(Math.max(...fractions)).toBeGreaterThan(0.28);
    tf.dispose([images, out]);
  });

  it('no crop and the same size is the identity', () => {
    const images = randomImages(2, 3, 5, 7, 3);
    const out = augmentBatch(images, NONE, [5, 7], new Rng(1));
    expect(Array.from(out.dataSync())).toEqual(Array.from(images.dataSync()));
    tf.dispose([images, out]);
  });
});

describe('horizontal flip', () => {
  const isFlipped = (view: Image) => view[0][0][0] > view[0][view[0].length - 1][0];

  it('flips about p of the images, none at p = 0, all at p = 1', () => {
    const images = rampImages(400, 8);
    for (const [p, lo, hi] of [
      [0.5, 160, 240],
      [0, 0, 0],
      [1, 400, 400],
    ]) {
      const out = augmentBatch(images, { ...NONE, flip: p }, [8, 8], new Rng(11));
      const views = toImages(out);
      const flipped = views.filter(isFlipped).length;
      expect(flipped).toBeGreaterThanOrEqual(lo);
      expect(flipped).toBeLessThanOrEqual(hi);
      // a flipped ramp is exactly the mirror: x -> 1 - x
      for (const view of views.filter(isFlipped)) expect(view[3][2][0]).toBeCloseTo(1 - 2 / 7, 6);
      out.dispose();
    }
    images.dispose();
  });

  it('the flip through the crop box equals tf.image.flipLeftRight of the unflipped crop', () => {
    const crop = AUGMENT_PRESETS['simclr-cifar'].crop;
    const images = randomImages(3, 16, 12, 12, 3);
    // coins are always drawn, so both runs see the same crops
    const plain = augmentBatch(images, { ...NONE, crop, flip: 0 }, [9, 7], new Rng(21));
    const flipped = augmentBatch(images, { ...NONE, crop, flip: 1 }, [9, 7], new Rng(21));
    const mirrored = tf.image.flipLeftRight(plain);
    expect(maxAbsDiff(Array.from(flipped.dataSync()), Array.from(mirrored.dataSync()))).toBeLessThan(1e-5);
    expect(maxAbsDiff(Array.from(flipped.dataSync()), Array.from(plain.dataSync()))).toBeGreaterThan(0.1);
    tf.dispose([images, plain, flipped, mirrored]);
  });
});

describe('grayscale', () => {
  it('about p of the images become luma replicated to 3 channels; the rest are untouched', () => {
    const images = randomImages(4, 400, 3, 3, 3);
    const input = toImages(images);
    const out = augmentBatch(images, { ...NONE, grayscale: 0.3 }, [3, 3], new Rng(8));
    let grey = 0;
    toImages(out).forEach((view, i) => {
      const channelsEqual = pixels(view).every(([r, g, b]) => r === g && g === b);
      if (channelsEqual) {
        grey++;
        expect(
          maxAbsDiff(
            pixels(view).map((px) => px[0]),
            pixels(input[i]).map(luma),
          ),
        ).toBeLessThan(1e-6);
      } else {
        expect(pixels(view).flat()).toEqual(pixels(input[i]).flat());
      }
    });
    // Binomial(400, 0.3): mean 120, sd 9.2
    expect(grey).toBeGreaterThan(83);
    expect(grey).toBeLessThan(157);
    tf.dispose([images, out]);
  });

  it('is a no-op for 1-channel images', () => {
    const images = randomImages(4, 4, 3, 3, 1);
    const out = augmentBatch(images, { ...NONE, grayscale: 1 }, [3, 3], new Rng(8));
    expect(Array.from(out.dataSync())).toEqual(Array.from(images.dataSync()));
    tf.dispose([images, out]);
  });
});

describe('colour jitter', () => {
  const onlyBrightness: AugmentConfig = {
    ...NONE,
    jitter: { brightness: 0.4, contrast: 0, saturation: 0, hue: 0, p: 1 },
  };

  it('brightness factors are uniform in [1 - s, 1 + s]', () => {
    const images = tf.fill([400, 2, 2, 3], 0.5) as tf.Tensor4D;
    const out = augmentBatch(images, onlyBrightness, [2, 2], new Rng(13));
    const factors = toImages(out).map((view) => view[0][0][0] / 0.5);
    expect(Math.min(...factors)).toBeGreaterThanOrEqual(0.6 - 1e-6);
    expect(Math.max(...factors)).toBeLessThanOrEqual(1.4 + 1e-6);
    expect(Math.min(...factors)).toBeLessThan(0.62);
    expect(Math.max(...factors)).toBeGreaterThan(1.38);
    // U[0.6, 1.4]: mean 1, sd of the mean over 400 = 0.0115
    const mean = factors.reduce((s, f) => s + f, 0) / factors.length;
    expect(Math.abs(mean - 1)).toBeLessThan(0.04);
    // the same factor for every pixel and channel of an image
    toImages(out).forEach((view) => expect(new Set(pixels(view).flat()).size).toBe(1));
    tf.dispose([images, out]);
  });

  it('p = 0 is the identity and p = 0.8 changes about 80% of the images', () => {
    const images = randomImages(6, 400, 2, 2, 3);
    const strong = AUGMENT_PRESETS['simclr-cifar'].jitter!;
    const identity = augmentBatch(images, { ...NONE, jitter: { ...strong, p: 0 } }, [2, 2], new Rng(2));
    expect(Array.from(identity.dataSync())).toEqual(Array.from(images.dataSync()));
    const jittered = augmentBatch(images, { ...NONE, jitter: { ...strong, p: 0.8 } }, [2, 2], new Rng(2));
    const input = toImages(images);
    const changed = toImages(jittered).filter(
      (view, i) => maxAbsDiff(pixels(view).flat(), pixels(input[i]).flat()) > 0,
    ).length;
    // Binomial(400, 0.8): mean 320, sd 8
    expect(changed).toBeGreaterThan(288);
    expect(changed).toBeLessThan(352);
    tf.dispose([images, identity, jittered]);
  });

  it('adjustHue matches the colorsys HSV rotation; red + 1/3 turn is green; grey is unchanged', () => {
    const colours = [
      [1, 0, 0],
      [0.5, 0.5, 0.5],
      [0.2, 0.7, 0.4],
      [0.9, 0.1, 0.6],
      [0.3, 0.2, 0.95],
      [0, 0, 0],
    ];
    const shifts = [1 / 3, 0.25, -0.1, 0.45, -0.5, 0.2];
    const images = tf.tensor4d(colours.flat(), [6, 1, 1, 3]);
    const out = adjustHue(images, shifts);
    const got = out.arraySync() as Image[];
    colours.forEach((rgb, i) => {
      const [h, s, v] = rgbToHsv(rgb);
      const want = hsvToRgb([(((h + shifts[i]) % 1) + 1) % 1, s, v]);
      expect(maxAbsDiff(got[i][0][0], want)).toBeLessThan(1e-5);
    });
    expect(maxAbsDiff(got[0][0][0], [0, 1, 0])).toBeLessThan(1e-6);
    expect(maxAbsDiff(got[1][0][0], [0.5, 0.5, 0.5])).toBeLessThan(1e-6);
    tf.dispose([images, out]);
  });

  it('adjustContrast blends with the image mean luma; adjustSaturation with the pixel luma', () => {
    const rng = new Rng(17);
    const image: number[][] = Array.from({ length: 4 }, () => [rng.next(), rng.next(), rng.next()]);
    const t = tf.tensor4d(image.flat(), [1, 2, 2, 3]);
    const meanLuma = image.map(luma).reduce((s, y) => s + y, 0) / 4;
    for (const f of [0.3, 1.7]) {
      const contrast = adjustContrast(t, [f]);
      const saturation = adjustSaturation(t, [f]);
      const wantContrast = image.flatMap((px) => px.map((x) => clip01(f * x + (1 - f) * meanLuma)));
      const wantSaturation = image.flatMap((px) => px.map((x) => clip01(f * x + (1 - f) * luma(px))));
      expect(maxAbsDiff(Array.from(contrast.dataSync()), wantContrast)).toBeLessThan(1e-6);
      expect(maxAbsDiff(Array.from(saturation.dataSync()), wantSaturation)).toBeLessThan(1e-6);
      tf.dispose([contrast, saturation]);
    }
    t.dispose();
  });

  it("applies the ops in each image's own drawn order, then grayscale", () => {
    // strong factors so clipping makes the order matter
    const cfg: AugmentConfig = {
      crop: { scale: [0.3, 1], ratio: [3 / 4, 4 / 3] },
      flip: 0.5,
      jitter: { brightness: 0.9, contrast: 0.9, saturation: 0.9, hue: 0.4, p: 0.9 },
      grayscale: 0.3,
    };
    const n = 24;
    const images = randomImages(9, n, 6, 6, 3);
    const params = sampleAugmentParams(n, 6, 6, cfg, new Rng(30));
    const batched = toImages(applyAugmentParams(images, params, [5, 5]));
    const geometryOnly = params.map((p): ImageAugmentParams => ({ ...p, jitter: null, grayscale: false }));
    const cropped = applyAugmentParams(images, geometryOnly, [5, 5]);
    const single = (k: number, op: string, x: tf.Tensor4D): tf.Tensor4D => {
      const j = params[k].jitter!;
      if (op === 'brightness')
        return tf.tidy(() => tf.clipByValue(tf.mul(x, j.brightness), 0, 1) as tf.Tensor4D);
      if (op === 'contrast') return adjustContrast(x, [j.contrast]);
      if (op === 'saturation') return adjustSaturation(x, [j.saturation]);
      return adjustHue(x, [j.hue]);
    };
    let orderMattered = 0;
    for (let k = 0; k < n; k++) {
      const run = (order: string[]) => {
        let x = tf.slice(cropped, [k, 0, 0, 0], [1, 5, 5, 3]) as tf.Tensor4D;
        for (const op of params[k].jitter ? order : []) {
          const next = single(k, op, x);
          x.dispose();
          x = next;
        }
        const result = pixels((x.arraySync() as Image[])[0]);
        x.dispose();
        return params[k].grayscale ? result.map((px) => [luma(px), luma(px), luma(px)]) : result;
      };
      const reference = run(params[k].jitter?.order ?? []);
      expect(maxAbsDiff(pixels(batched[k]).flat(), reference.flat())).toBeLessThan(1e-5);
      const canonical = run(['brightness', 'contrast', 'saturation', 'hue']);
      if (maxAbsDiff(canonical.flat(), reference.flat()) > 1e-3) orderMattered++;
    }
    // the check above can only tell orders apart if some images come out differently in another order
    expect(orderMattered).toBeGreaterThan(0);
    expect(params.some((p) => p.jitter === null)).toBe(true);
    expect(params.some((p) => p.grayscale)).toBe(true);
    tf.dispose([images, cropped]);
  });
});

describe('augmentBatch and makeViews', () => {
  const simclr = AUGMENT_PRESETS['simclr-cifar'];

  it('same seed -> identical views, different seed -> different; output in [0, 1]', () => {
    const images = randomImages(12, 8, 10, 10, 3);
    const a = augmentBatch(images, simclr, [10, 10], new Rng(99));
    const b = augmentBatch(images, simclr, [10, 10], new Rng(99));
    const c = augmentBatch(images, simclr, [10, 10], new Rng(100));
    const av = Array.from(a.dataSync());
    expect(av).toEqual(Array.from(b.dataSync()));
    expect(maxAbsDiff(av, Array.from(c.dataSync()))).toBeGreaterThan(0.1);
    expect(Math.min(...av)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...av)).toBeLessThanOrEqual(1);
    tf.dispose([images, a, b, c]);
  });

  it('multi-crop: large views at the image size (or largeSize), small views at smallSize from small crops', () => {
    const smallImages = randomImages(3, 6, 16, 16, 3);
    const views = makeViews(
      smallImages,
      simclr,
      { large: 2, small: 3, smallSize: 4, smallScale: [0.05, 0.14] },
      new Rng(4),
    );
    expect(views.map((v) => v.shape)).toEqual([
      [6, 16, 16, 3],
      [6, 16, 16, 3],
      [6, 4, 4, 3],
      [6, 4, 4, 3],
      [6, 4, 4, 3],
    ]);
    tf.dispose([smallImages, ...views]);
    // without colour ops the ramp tells the crop area of each small view
    const geometry: AugmentConfig = { ...NONE, crop: simclr.crop };
    const images = rampImages(6, 64);
    const small = makeViews(
      images,
      geometry,
      { large: 1, largeSize: 12, small: 2, smallSize: 4, smallScale: [0.05, 0.14] },
      new Rng(4),
    );
    expect(small[0].shape).toEqual([6, 12, 12, 3]);
    for (const view of small.slice(1)) {
      for (const image of toImages(view)) {
        const crop = recoverCrop(image, 64);
        const fraction = (crop.width * crop.height) / 4096;
        expect(fraction).toBeGreaterThan(0.05 - 0.006);
        expect(fraction).toBeLessThan(0.14 + 0.006);
      }
    }
    tf.dispose([images, ...small]);
  });

  it('different views of one call differ (each draws its own parameters)', () => {
    const images = randomImages(13, 4, 8, 8, 3);
    const [v1, v2] = makeViews(
      images,
      simclr,
      { large: 2, small: 0, smallSize: 4, smallScale: [0.05, 0.14] },
      new Rng(6),
    );
    expect(maxAbsDiff(Array.from(v1.dataSync()), Array.from(v2.dataSync()))).toBeGreaterThan(0.1);
    tf.dispose([images, v1, v2]);
  });

  it('leaks no tensors', () => {
    const images = randomImages(14, 8, 8, 8, 3);
    augmentBatch(images, simclr, [8, 8], new Rng(1)).dispose(); // warm-up (backend-side caches)
    const before = tf.memory().numTensors;
    for (let step = 0; step < 3; step++) {
      augmentBatch(images, simclr, [6, 6], new Rng(step)).dispose();
      tf.dispose(
        makeViews(
          images,
          simclr,
          { large: 2, small: 2, smallSize: 4, smallScale: [0.05, 0.14] },
          new Rng(step),
        ),
      );
    }
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
  });

  it('rejects bad configs and inputs with messages that name the field', () => {
    const images = randomImages(15, 2, 4, 4, 3);
    const rng = new Rng(1);
    expect(() =>
      augmentBatch(images, { ...simclr, crop: { scale: [0, 1], ratio: [0.75, 1.33] } }, [4, 4], rng),
    ).toThrow(/crop.scale/);
    expect(() => augmentBatch(images, { ...simclr, flip: 1.5 }, [4, 4], rng)).toThrow(/flip/);
    expect(() =>
      augmentBatch(images, { ...simclr, jitter: { ...simclr.jitter!, hue: 0.7 } }, [4, 4], rng),
    ).toThrow(/hue/);
    // one validator: the engine refuses exactly what the RunConfig refuses, with the same field path
    const strong = { ...simclr, jitter: { ...simclr.jitter!, brightness: 1.5 } };
    expect(() => augmentBatch(images, strong, [4, 4], rng)).toThrow(/augment\.jitter\.brightness/);
    expect(() => parseRunConfig({ augment: strong })).toThrow(/augment\.jitter\.brightness/);
    expect(() => augmentBatch(images, { ...simclr, blur: 0.5 } as AugmentConfig, [4, 4], rng)).toThrow(
      /augment\.blur: unknown field/,
    );
    expect(augmentConfigProblems(parseRunConfig({}).augment)).toEqual([]);
    expect(() => augmentBatch(images, simclr, [0, 4], rng)).toThrow(/outSize/);
    const fourChannels = randomImages(15, 2, 4, 4, 4);
    expect(() => augmentBatch(fourChannels, simclr, [4, 4], rng)).toThrow(/channels/);
    expect(() =>
      makeViews(images, simclr, { large: 0, small: 0, smallSize: 4, smallScale: [0.05, 0.14] }, rng),
    ).toThrow(/large \+ small/);
    tf.dispose([images, fourChannels]);
  });
});
