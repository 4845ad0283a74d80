import { readFile } from 'node:fs/promises';
import { gzipSync } from 'fflate';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FASHION_MNIST_CLASSES, IDX_MAX_BYTES, fashionMnistDataset, mnistDataset, parseIdx } from './idx';
import { nodeFileSource } from './node_source';
import { memoryFileSource } from './sources';
import { makeIdx } from './testing';

const SHIPPED_FASHION = resolve(process.cwd(), 'public/datasets/fashion-mnist');

/** A tiny MNIST-layout folder: 28x28 images whose every pixel is (image index * 10 + row) and the given labels. */
function tinyMnistFiles(
  trainLabels: number[],
  testLabels: number[],
  gzip: boolean,
): Record<string, Uint8Array> {
  const images = (count: number) =>
    makeIdx(
      [count, 28, 28],
      Array.from(
        { length: count * 784 },
        (_, p) => (Math.floor(p / 784) * 10 + Math.floor((p % 784) / 28)) % 256,
      ),
    );
  const encode = (bytes: Uint8Array) => (gzip ? gzipSync(bytes) : bytes);
  const suffix = gzip ? '.gz' : '';
  return {
    [`train-images-idx3-ubyte${suffix}`]: encode(images(trainLabels.length)),
    [`train-labels-idx1-ubyte${suffix}`]: encode(makeIdx([trainLabels.length], trainLabels)),
    [`t10k-images-idx3-ubyte${suffix}`]: encode(images(testLabels.length)),
    [`t10k-labels-idx1-ubyte${suffix}`]: encode(makeIdx([testLabels.length], testLabels)),
  };
}

describe('parseIdx', () => {
  it('reads dims big-endian and the data after the header, raw or gzipped', () => {
    const raw = makeIdx(
      [2, 3, 4],
      Array.from({ length: 24 }, (_, i) => i * 10),
    );
    for (const bytes of [raw, gzipSync(raw)]) {
      const parsed = parseIdx(bytes);
      expect(parsed.dims).toEqual([2, 3, 4]);
      expect(Array.from(parsed.data)).toEqual(Array.from({ length: 24 }, (_, i) => i * 10));
    }
    // A dim above 255 needs all four big-endian bytes.
    expect(parseIdx(makeIdx([300], new Uint8Array(300))).dims).toEqual([300]);
  });

  it('rejects a bad magic, an unsupported type, truncation, extra bytes and corrupt gzip, naming the file', () => {
    const good = makeIdx([2, 2], [1, 2, 3, 4]);
    expect(() => parseIdx(Uint8Array.from([0x50, 0x4b, 3, 4]), 'x.idx')).toThrow(/x\.idx is not an idx file/);
    const floats = good.slice();
    floats[2] = 0x0d;
    expect(() => parseIdx(floats, 'f.idx')).toThrow(/f\.idx holds float32 \(type 0x0d\)/);
    expect(() => parseIdx(good.subarray(0, good.length - 1), 't.idx')).toThrow(
      /t\.idx is 15 bytes but its header \(dims 2x2\) needs 16: the file is truncated/,
    );
    expect(() => parseIdx(Uint8Array.from([...good, 0]), 'long.idx')).toThrow(/longer than its header says/);
    expect(() => parseIdx(good.subarray(0, 6), 'h.idx')).toThrow(/too short for its 2-dimension header/);
    const gz = gzipSync(good);
    expect(() => parseIdx(gz.subarray(0, 12), 'cut.gz')).toThrow(
      /cut\.gz starts like gzip but ends early: the file is truncated/,
    );
    const garbled = Uint8Array.from(gz);
    garbled.fill(0xff, 10, 16);
    expect(() => parseIdx(garbled, 'bad.gz')).toThrow(/bad\.gz starts like gzip but does not decompress/);
  });

  it('stops a gzip bomb at IDX_MAX_BYTES: by its trailer before keeping output, and by counting when the trailer lies', () => {
    // an idx header claiming 100,000 x 28 x 28 images, then zeros: 78 MB once inflated
    const header = makeIdx([100_000, 28, 28], []);
    const bomb = gzipSync(Buffer.concat([header, Buffer.alloc(100_000 * 28 * 28)]), { level: 1 });
    expect(bomb.length).toBeLessThan(1_000_000);
    expect(() => parseIdx(bomb, 'bomb.gz')).toThrow(
      /bomb\.gz decompresses to 78,400,016 bytes \(its gzip trailer says\), more than the 67,108,864 bytes allowed \(the largest \(Fashion-\)MNIST idx file, train-images-idx3-ubyte, is 47,040,016 bytes\)/,
    );
    const lying = Uint8Array.from(bomb);
    lying.set([16, 0, 0, 0], lying.length - 4);
    expect(() => parseIdx(lying, 'lying.gz')).toThrow(
      /lying\.gz decompresses to more than [\d,]+ bytes, more than the 67,108,864/,
    );
    expect(IDX_MAX_BYTES).toBe(64 * 1024 * 1024);
  });
});

describe('mnist-layout datasets on files the test writes', () => {
  it('reads .gz and raw files, with NHWC pixels and labels in order', async () => {
    for (const gzip of [true, false]) {
      const dataset = mnistDataset(memoryFileSource(tinyMnistFiles([5, 0, 9], [7], gzip)));
      expect(dataset.imageShape).toEqual([28, 28, 1]);
      const train = await dataset.train();
      expect(train.count).toBe(3);
      expect(Array.from(train.labels)).toEqual([5, 0, 9]);
      // image 2, row 13, column 4 -> 2*10 + 13
      expect(train.images[2 * 784 + 13 * 28 + 4]).toBe(33);
      expect(Array.from((await dataset.test()).labels)).toEqual([7]);
    }
  });

  it('finds files without a listing by probing .gz then raw', async () => {
    const memory = memoryFileSource(tinyMnistFiles([1, 2], [3], false));
    const dataset = fashionMnistDataset({ read: (name) => memory.read(name), list: async () => null });
    expect((await dataset.train()).count).toBe(2);
  });

  it('gives clear errors for mismatched counts, wrong image size, labels out of range and missing files', async () => {
    const mismatched = tinyMnistFiles([1, 2], [3], false);
    mismatched['train-labels-idx1-ubyte'] = makeIdx([3], [1, 2, 3]);
    await expect(mnistDataset(memoryFileSource(mismatched)).train()).rejects.toThrow(
      /train-images-idx3-ubyte has 2 images but train-labels-idx1-ubyte has 3 labels/,
    );
    const wrongSize = tinyMnistFiles([1], [3], false);
    wrongSize['t10k-images-idx3-ubyte'] = makeIdx([1, 32, 32], new Uint8Array(1024));
    await expect(mnistDataset(memoryFileSource(wrongSize)).test()).rejects.toThrow(
      /has dims 1x32x32, expected N x 28 x 28/,
    );
    await expect(mnistDataset(memoryFileSource(tinyMnistFiles([1, 12], [3], false))).train()).rejects.toThrow(
      /train-labels-idx1-ubyte label 1 is 12, but this dataset has classes 0-9/,
    );
    const { 't10k-labels-idx1-ubyte.gz': _dropped, ...missing } = tinyMnistFiles([1], [3], true);
    await expect(mnistDataset(memoryFileSource(missing)).test()).rejects.toThrow(
      /t10k-labels-idx1-ubyte\.gz or t10k-labels-idx1-ubyte not found/,
    );
  });
});

describe('the shipped Fashion-MNIST in public/datasets/fashion-mnist', () => {
  it('has 60,000 / 10,000 balanced 28x28x1 images and the Fashion-MNIST class names', async () => {
    const dataset = fashionMnistDataset(nodeFileSource(SHIPPED_FASHION));
    expect(dataset.classes).toEqual(FASHION_MNIST_CLASSES);
    const shippedNames = (await readFile(resolve(SHIPPED_FASHION, 'classes.txt'), 'utf8')).trim().split('\n');
    expect(shippedNames).toEqual(FASHION_MNIST_CLASSES);
    expect(dataset.imageShape).toEqual([28, 28, 1]);
    for (const [split, count] of [
      [await dataset.train(), 60_000],
      [await dataset.test(), 10_000],
    ] as const) {
      expect(split.count).toBe(count);
      expect(split.images.length).toBe(count * 784);
      const histogram = new Array<number>(10).fill(0);
      for (const label of split.labels) histogram[label]++;
      expect(histogram).toEqual(new Array<number>(10).fill(count / 10));
      // Real images: a dark background border and bright clothing in the middle, not zeros or noise.
      let mean = 0;
      for (let i = 0; i < 784 * 100; i++) mean += split.images[i] / (784 * 100);
      expect(mean).toBeGreaterThan(40);
      expect(mean).toBeLessThan(110);
    }
  });
});
