import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { cellCentres } from '../nn/pixel_pairs';
import { Rng } from '../nn/random';
import { AUGMENT_PRESETS, makeViews, makeViewsWithGeometry, type AugmentConfig } from './augment';

function randomImages(seed: number, n: number, h: number, w: number, c: number): tf.Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(
    Array.from({ length: n * h * w * c }, () => rng.next()),
    [n, h, w, c],
  );
}

/**
 * n copies of a ramp image in continuous source coordinates: channel 0 = (x + 1/2) / W and channel 1 =
 * (y + 1/2) / H at the pixel whose centre is (x + 1/2, y + 1/2), channel 2 = 1/2; bilinear sampling of a linear
 * ramp reads back the coordinate it samples.
 */
function rampImages(n: number, height: number, width: number): tf.Tensor4D {
  const values: number[] = [];
  for (let i = 0; i < n; i++)
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) values.push((x + 0.5) / width, (y + 0.5) / height, 0.5);
  return tf.tensor4d(values, [n, height, width, 3]);
}

const CROP_FLIP: AugmentConfig = {
  crop: { scale: [0.3, 0.9], ratio: [3 / 4, 4 / 3] },
  flip: 0.5,
  jitter: null,
  grayscale: 0,
};

describe('views with their geometry', () => {
  it('gives exactly the views of makeViews from the same seed, large and small, with one box per image', () => {
    const images = randomImages(1, 5, 12, 12, 3);
    const views = { large: 2, small: 1, smallSize: 6, smallScale: [0.1, 0.4] as [number, number] };
    const cfg = AUGMENT_PRESETS['simclr-cifar'];
    const plain = makeViews(images, cfg, views, new Rng(9));
    const withGeometry = makeViewsWithGeometry(images, cfg, views, new Rng(9));
    expect(withGeometry.views.map((v) => v.shape)).toEqual(plain.map((v) => v.shape));
    withGeometry.views.forEach((view, v) => expect(view.dataSync()).toEqual(plain[v].dataSync()));
    expect(withGeometry.geometry.map((g) => g.length)).toEqual([5, 5, 5]);
    // the small view's boxes come from its own, smaller scale range
    for (const box of withGeometry.geometry[2])
      expect(box.height * box.width).toBeLessThanOrEqual(0.4 * 144 + 12);
    // the flips are drawn per image: with p = 0.5 over 15 draws both appear
    const flips = withGeometry.geometry.flat().map((g) => g.flip);
    expect(flips).toContain(true);
    expect(flips).toContain(false);
    tf.dispose([images, ...plain, ...withGeometry.views]);
  });

  it('each box and flip says where the view came from: cell averages of a ramp image are the cell centres', () => {
    const [H, W, n, h, w] = [24, 16, 12, 3, 2];
    const images = rampImages(n, H, W);
    const { views, geometry } = makeViewsWithGeometry(
      images,
      CROP_FLIP,
      { large: 2, small: 0, smallSize: 4, smallScale: [0.1, 0.4] },
      new Rng(4),
    );
    // a 3 x 2 "feature map" of each view: the mean of its pixels over each cell, back in source pixels
    views.forEach((view, v) => {
      const pooled = tf.tidy(() =>
        tf.avgPool(view, [H / h, W / w], [H / h, W / w], 'valid').arraySync(),
      ) as number[][][][];
      for (let i = 0; i < n; i++) {
        const centres = cellCentres(geometry[v][i], h, w);
        for (let r = 0; r < h; r++) {
          for (let c = 0; c < w; c++) {
            const [x, y] = pooled[i][r][c];
            // the sample points are clamped into the image, so the edges are off by up to a pixel's fraction
            expect(Math.abs(x * W - centres[2 * (r * w + c)])).toBeLessThan(0.3);
            expect(Math.abs(y * H - centres[2 * (r * w + c) + 1])).toBeLessThan(0.3);
          }
        }
      }
    });
    expect(geometry.flat().some((g) => g.flip)).toBe(true);
    tf.dispose([images, ...views]);
  });

  it('rejects bad view counts like makeViews', () => {
    const images = randomImages(1, 2, 8, 8, 3);
    expect(() =>
      makeViewsWithGeometry(
        images,
        CROP_FLIP,
        { large: 0, small: 0, smallSize: 4, smallScale: [0.1, 0.4] },
        new Rng(1),
      ),
    ).toThrow(/at least 1/);
    expect(() =>
      makeViewsWithGeometry(
        images,
        CROP_FLIP,
        { large: 1.5, small: 0, smallSize: 4, smallScale: [0.1, 0.4] },
        new Rng(1),
      ),
    ).toThrow(/large must be an integer/);
    images.dispose();
  });
});
