import { describe, expect, it } from 'vitest';
import { parseRunConfig } from '../config';
import { syntheticDataset } from './synthetic';
import { applyTarget, rotateImages } from './targets';
import type { DatasetSplit } from './types';

const split = (images: number[], count: number, targets?: number[]): DatasetSplit => ({
  images: Uint8Array.from(images),
  labels: new Int32Array(count),
  count,
  ...(targets ? { targets: Float32Array.from(targets) } : {}),
});

describe('regression targets', () => {
  it('rotateImages turns a 3x3 image counter-clockwise about its centre, clamping at the border', () => {
    // a bright pixel right of the centre goes above it after +90 degrees, below it after -90
    const image = [0, 0, 0, 0, 0, 200, 0, 0, 0];
    expect(Array.from(rotateImages(Uint8Array.from(image), [3, 3, 1], Float32Array.from([90])))).toEqual([
      0, 200, 0, 0, 0, 0, 0, 0, 0,
    ]);
    expect(Array.from(rotateImages(Uint8Array.from(image), [3, 3, 1], Float32Array.from([-90])))).toEqual([
      0, 0, 0, 0, 0, 0, 0, 200, 0,
    ]);
    expect(Array.from(rotateImages(Uint8Array.from(image), [3, 3, 1], Float32Array.from([0])))).toEqual(
      image,
    );
    // a uniform image stays uniform at any angle: no black corners
    const grey = new Array(16).fill(90);
    expect(Array.from(rotateImages(Uint8Array.from(grey), [4, 4, 1], Float32Array.from([33])))).toEqual(grey);
  });

  it("'rotation' rotates each image by a seeded angle in [-max, max], the angle being its target", () => {
    const pixels = Array.from({ length: 4 * 16 }, (_, i) => (i * 37) % 251);
    const splits = { train: split(pixels, 4), test: split(pixels.slice(0, 32), 2) };
    const spec = { target: 'rotation' as const, maxRotation: 30 };
    const a = applyTarget(splits, [4, 4, 1], spec, 7);
    const b = applyTarget(splits, [4, 4, 1], spec, 7);
    const c = applyTarget(splits, [4, 4, 1], spec, 8);
    expect(Array.from(a.train.targets!)).toEqual(Array.from(b.train.targets!));
    expect(Array.from(a.train.images)).toEqual(Array.from(b.train.images));
    expect(Array.from(a.train.targets!)).not.toEqual(Array.from(c.train.targets!));
    expect(Array.from(a.test.targets!)).not.toEqual(Array.from(a.train.targets!.slice(0, 2)));
    for (const angle of [...a.train.targets!, ...a.test.targets!])
      expect(Math.abs(angle)).toBeLessThanOrEqual(30);
    // each image is its source rotated by its own angle
    const first = rotateImages(Uint8Array.from(pixels.slice(0, 16)), [4, 4, 1], a.train.targets!.slice(0, 1));
    expect(Array.from(a.train.images.slice(0, 16))).toEqual(Array.from(first));
    expect(a.train.labels).toBe(splits.train.labels);
  });

  it("'size' keeps the synthetic shapes' radius; 'class' drops any target", async () => {
    const dataset = syntheticDataset({ seed: 2, classes: 3, trainCount: 30, testCount: 9, size: 16 });
    const train = await dataset.train();
    const test = await dataset.test();
    for (const t of train.targets!) {
      expect(t).toBeGreaterThanOrEqual(28);
      expect(t).toBeLessThan(42);
    }
    const sized = applyTarget({ train, test }, [16, 16, 3], { target: 'size', maxRotation: 45 }, 0);
    expect(sized.train.targets).toBe(train.targets);
    const plain = applyTarget({ train, test }, [16, 16, 3], { target: 'class', maxRotation: 45 }, 0);
    expect(plain.train.targets).toBeUndefined();
    expect(plain.train.images).toBe(train.images);
    expect(() =>
      applyTarget(
        { train: split([0], 1), test: split([0], 1) },
        [1, 1, 1],
        { target: 'size', maxRotation: 45 },
        0,
      ),
    ).toThrow("dataset.target 'size': the train split has no size target");
  });

  it('the config validates dataset.target against the dataset and the loss, naming the fix', () => {
    expect(parseRunConfig({}).dataset).toMatchObject({ target: 'class', maxRotation: 45 });
    expect(() => parseRunConfig({ dataset: { id: 'fashion-mnist', target: 'size' } })).toThrow(
      "dataset.target: 'size' is the synthetic shapes' radius; dataset 'fashion-mnist' has no size target",
    );
    expect(() => parseRunConfig({ loss: { id: 'supremix' } })).toThrow(
      "dataset.target: loss 'supremix' regresses a continuous target per image; set dataset.target to 'rotation'",
    );
    expect(() => parseRunConfig({ dataset: { target: 'angle' } })).toThrow(/dataset\.target/);
    expect(() => parseRunConfig({ dataset: { maxRotation: 0 } })).toThrow(/dataset\.maxRotation/);
    expect(
      parseRunConfig({ loss: { id: 'supremix' }, dataset: { target: 'rotation' } }).loss.params.window,
    ).toBe(5);
  });
});
