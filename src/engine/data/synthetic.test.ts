import { describe, expect, it } from 'vitest';
import { syntheticDataset } from './synthetic';
import type { DatasetSplit } from './types';

/** Mean image (float, per pixel and channel) of each class. */
function classMeans(split: DatasetSplit, classes: number, imageSize: number): Float64Array[] {
  const sums = Array.from({ length: classes }, () => new Float64Array(imageSize));
  const counts = new Array<number>(classes).fill(0);
  for (let i = 0; i < split.count; i++) {
    counts[split.labels[i]]++;
    for (let p = 0; p < imageSize; p++) sums[split.labels[i]][p] += split.images[i * imageSize + p];
  }
  return sums.map((sum, k) => sum.map((value) => value / counts[k]));
}

function distance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < a.length; i++) total += (a[i] - b[i]) ** 2;
  return Math.sqrt(total);
}

describe('syntheticDataset', () => {
  it('is deterministic per seed and differs across seeds; test() does not depend on train()', async () => {
    const a = syntheticDataset({ seed: 7, trainCount: 50, testCount: 20 });
    const b = syntheticDataset({ seed: 7, trainCount: 50, testCount: 20 });
    const c = syntheticDataset({ seed: 8, trainCount: 50, testCount: 20 });
    const testFirst = await b.test();
    expect((await a.train()).images).toEqual((await b.train()).images);
    expect((await a.test()).images).toEqual(testFirst.images);
    expect((await a.train()).images).not.toEqual((await c.train()).images);
  });

  it('has the requested shape, count and balanced labels, using the full byte range', async () => {
    const dataset = syntheticDataset({
      seed: 1,
      classes: 4,
      trainCount: 42,
      testCount: 8,
      size: 12,
      channels: 1,
    });
    expect(dataset.imageShape).toEqual([12, 12, 1]);
    expect(dataset.classes).toHaveLength(4);
    const train = await dataset.train();
    expect(train.count).toBe(42);
    expect(train.images.length).toBe(42 * 144);
    const histogram = new Array<number>(4).fill(0);
    for (const label of train.labels) histogram[label]++;
    expect(histogram).toEqual([11, 11, 10, 10]);
    expect(Math.max(...train.images)).toBeGreaterThan(200);
    expect(Math.min(...train.images)).toBeLessThan(40);
  });

  it('has class structure: nearest class-mean classification of test images beats chance by far', async () => {
    const dataset = syntheticDataset({ seed: 3, trainCount: 400, testCount: 200 });
    const [height, width, channels] = dataset.imageShape;
    const imageSize = height * width * channels;
    const means = classMeans(await dataset.train(), 10, imageSize);
    const test = await dataset.test();
    let correct = 0;
    for (let i = 0; i < test.count; i++) {
      const image = test.images.subarray(i * imageSize, (i + 1) * imageSize);
      const distances = means.map((mean) => distance(image, mean));
      if (distances.indexOf(Math.min(...distances)) === test.labels[i]) correct++;
    }
    expect(correct / test.count).toBeGreaterThan(0.6); // chance is 0.1
  });

  it('rejects bad options with the option name', () => {
    expect(() => syntheticDataset({ classes: 1 })).toThrow(/classes must be an integer in 2\.\.1000, got 1/);
    expect(() => syntheticDataset({ size: 3.5 })).toThrow(/size must be an integer/);
    expect(() => syntheticDataset({ channels: 5 })).toThrow(/channels must be an integer in 1\.\.4/);
    expect(() => syntheticDataset({ noise: -1 })).toThrow(/noise must be in \[0, 1\]/);
  });
});
