import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CIFAR10_CLASSES, CIFAR10_RECORD_BYTES, cifar10Dataset, parseCifarBinary } from './cifar10';
import { nodeFileSource } from './node_source';
import { memoryFileSource } from './sources';
import { cifarTestPattern, makeCifarRecords } from './testing';
import type { FileSource } from './types';

const SHARED_CIFAR = resolve(process.cwd(), '../shared/datasets/cifar10');
const haveSharedCifar = existsSync(join(SHARED_CIFAR, 'test_batch.bin'));
if (!haveSharedCifar)
  console.warn(`[cifar10.test] ${SHARED_CIFAR} is absent: skipping the tests on real CIFAR-10 files`);

/** The NHWC byte of (record, y, x, channel) in a parsed split. */
function nhwc(images: Uint8Array, record: number, y: number, x: number, channel: number): number {
  return images[((record * 32 + y) * 32 + x) * 3 + channel];
}

/** A source that hides its listing, like an HTTP server. */
function unlisted(source: FileSource): FileSource {
  return { read: (name) => source.read(name), list: async () => null };
}

describe('parseCifarBinary', () => {
  it('moves every CHW plane byte to its NHWC position and keeps the labels', () => {
    const labels = [3, 0, 9];
    const split = parseCifarBinary(makeCifarRecords(labels, cifarTestPattern));
    expect(split.count).toBe(3);
    expect(Array.from(split.labels)).toEqual(labels);
    expect(split.images.length).toBe(3 * 32 * 32 * 3);
    for (let record = 0; record < 3; record++)
      for (const [y, x] of [
        [0, 0],
        [0, 31],
        [17, 5],
        [31, 31],
      ])
        for (let channel = 0; channel < 3; channel++)
          expect(nhwc(split.images, record, y, x, channel)).toBe(cifarTestPattern(record, channel, y, x));
  });

  it('names the file and the fix when the size is not a multiple of 3073', () => {
    const truncated = makeCifarRecords([1, 2], cifarTestPattern).subarray(0, 1234);
    expect(() => parseCifarBinary(truncated, 'test_batch.bin')).toThrow(
      'test_batch.bin is 1234 bytes, not a multiple of 3073: the file is truncated or not CIFAR-10 binary; re-download with npm run datasets -- cifar10',
    );
    expect(() => parseCifarBinary(new Uint8Array(0), 'data_batch_2.bin')).toThrow(
      /data_batch_2\.bin is 0 bytes/,
    );
  });

  it('names the file and record of a label above 9', () => {
    const bytes = makeCifarRecords([1, 2, 12, 4], cifarTestPattern);
    expect(() => parseCifarBinary(bytes, 'data_batch_1.bin')).toThrow(
      /data_batch_1\.bin record 2 \(byte offset 6146\) has label 12/,
    );
  });
});

describe('cifar10Dataset on files it writes itself', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cifar10-test-'));
    // Three training batches numbered out of order on disk (1, 2, 10) to check numeric ordering.
    await writeFile(join(dir, 'data_batch_1.bin'), makeCifarRecords([0, 1], cifarTestPattern));
    await writeFile(join(dir, 'data_batch_2.bin'), makeCifarRecords([2, 3, 4], cifarTestPattern));
    await writeFile(join(dir, 'data_batch_10.bin'), makeCifarRecords([5], cifarTestPattern));
    await writeFile(join(dir, 'test_batch.bin'), makeCifarRecords([9, 8], cifarTestPattern));
    await writeFile(
      join(dir, 'batches.meta.txt'),
      'plane\ncar\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n',
    );
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('reads every listed data_batch_N.bin in numeric order, the test batch and the meta class names', async () => {
    const dataset = await cifar10Dataset(nodeFileSource(dir));
    expect(dataset.imageShape).toEqual([32, 32, 3]);
    expect(dataset.classes[0]).toBe('plane');
    expect(dataset.classes).toHaveLength(10);
    const train = await dataset.train();
    expect(train.count).toBe(6);
    expect(Array.from(train.labels)).toEqual([0, 1, 2, 3, 4, 5]);
    // Record 0 of data_batch_2 is training record 2.
    expect(nhwc(train.images, 2, 7, 9, 1)).toBe(cifarTestPattern(0, 1, 7, 9));
    const test = await dataset.test();
    expect(Array.from(test.labels)).toEqual([9, 8]);
    expect(await dataset.train()).toBe(train); // parsed once, cached
  });

  it('without a listing probes data_batch_1..5 and stops at the first missing one', async () => {
    const reads: string[] = [];
    const files = {
      'data_batch_1.bin': makeCifarRecords([0], cifarTestPattern),
      'data_batch_2.bin': makeCifarRecords([1, 2], cifarTestPattern),
      'data_batch_4.bin': makeCifarRecords([7], cifarTestPattern), // after the gap: not read
      'test_batch.bin': makeCifarRecords([3], cifarTestPattern),
    };
    const memory = memoryFileSource(files);
    const source: FileSource = {
      read: (name) => (reads.push(name), memory.read(name)),
      list: async () => null,
    };
    const dataset = await cifar10Dataset(source);
    expect(dataset.classes).toEqual(CIFAR10_CLASSES); // no batches.meta.txt: the standard names
    const train = await dataset.train();
    expect(Array.from(train.labels)).toEqual([0, 1, 2]);
    expect(reads).toContain('data_batch_3.bin');
    expect(reads).not.toContain('data_batch_4.bin');
  });

  it('gives clear errors for a truncated test batch, a missing one, no training batch and a bad meta file', async () => {
    const good = makeCifarRecords([1], cifarTestPattern);
    const truncated = await cifar10Dataset(
      memoryFileSource({ 'data_batch_1.bin': good, 'test_batch.bin': good.subarray(0, 1234) }),
    );
    await expect(truncated.test()).rejects.toThrow('test_batch.bin is 1234 bytes, not a multiple of 3073');
    const noTest = await cifar10Dataset(memoryFileSource({ 'data_batch_1.bin': good }));
    await expect(noTest.test()).rejects.toThrow(/test_batch\.bin not found.*npm run datasets -- cifar10/);
    const noTrain = await cifar10Dataset(unlisted(memoryFileSource({ 'test_batch.bin': good })));
    await expect(noTrain.train()).rejects.toThrow(/no CIFAR-10 training batch/);
    await expect(
      cifar10Dataset(memoryFileSource({ 'batches.meta.txt': new TextEncoder().encode('a\nb\n') })),
    ).rejects.toThrow(/batches\.meta\.txt lists 2 class names, expected 10/);
  });

  it('a failed load is not cached: fixing the files and calling again works', async () => {
    const files: Record<string, Uint8Array> = { 'data_batch_1.bin': makeCifarRecords([1], cifarTestPattern) };
    const dataset = await cifar10Dataset(memoryFileSource(files));
    await expect(dataset.test()).rejects.toThrow(/test_batch\.bin not found/);
    files['test_batch.bin'] = makeCifarRecords([4], cifarTestPattern);
    expect(Array.from((await dataset.test()).labels)).toEqual([4]);
  });
});

describe('cifar10Dataset on the real files in ../shared/datasets/cifar10', () => {
  it.skipIf(!haveSharedCifar)(
    'has 10,000 train and 10,000 test records, the standard names and NHWC pixels that match the raw bytes',
    async () => {
      const dataset = await cifar10Dataset(nodeFileSource(SHARED_CIFAR));
      expect(dataset.classes).toEqual(CIFAR10_CLASSES);
      const histogramOf = (labels: ArrayLike<number>) => {
        const histogram = new Array<number>(10).fill(0);
        for (let i = 0; i < labels.length; i++) histogram[labels[i]]++;
        return histogram;
      };
      const train = await dataset.train();
      expect(train.count).toBe(10_000);
      expect(train.images.length).toBe(10_000 * 32 * 32 * 3);
      // The official test batch is exactly balanced; data_batch_1 alone is not (it is ~1,000 per class:
      // 955..1068 here), so its histogram is checked against the label bytes read straight from the file.
      const rawTrain = await readFile(join(SHARED_CIFAR, 'data_batch_1.bin'));
      const rawTrainLabels = Array.from(
        { length: 10_000 },
        (_, record) => rawTrain[record * CIFAR10_RECORD_BYTES],
      );
      expect(histogramOf(train.labels)).toEqual(histogramOf(rawTrainLabels));
      for (const classCount of histogramOf(train.labels))
        expect(Math.abs(classCount - 1000)).toBeLessThan(100);
      const raw = await readFile(join(SHARED_CIFAR, 'test_batch.bin'));
      const test = await dataset.test();
      expect(test.count).toBe(10_000);
      expect(histogramOf(test.labels)).toEqual(new Array<number>(10).fill(1000));
      for (const record of [0, 4321, 9999]) {
        const start = record * CIFAR10_RECORD_BYTES;
        expect(test.labels[record]).toBe(raw[start]);
        for (const [y, x] of [
          [0, 0],
          [13, 21],
          [31, 30],
        ])
          for (let channel = 0; channel < 3; channel++)
            expect(nhwc(test.images, record, y, x, channel)).toBe(
              raw[start + 1 + channel * 1024 + y * 32 + x],
            );
      }
    },
  );
});
