import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { batchLabels, batchToTensor, DATASET_IDS, openDataset } from './index';
import { memoryFileSource } from './sources';
import { cifarTestPattern, makeCifarRecords, makeIdx } from './testing';
import type { DatasetSplit, FileSource } from './types';

describe('openDataset', () => {
  it('opens every id: synthetic from the spec, file-backed ones from the source', async () => {
    expect(DATASET_IDS).toEqual(['fashion-mnist', 'cifar10', 'mnist', 'synthetic']);
    const synthetic = await openDataset({
      id: 'synthetic',
      seed: 2,
      trainCount: 5,
      testCount: 3,
      size: 8,
      channels: 1,
    });
    expect(synthetic.imageShape).toEqual([8, 8, 1]);
    expect((await synthetic.train()).count).toBe(5);

    const records = makeCifarRecords([1, 2], cifarTestPattern);
    const cifar = await openDataset(
      { id: 'cifar10' },
      memoryFileSource({ 'data_batch_1.bin': records, 'test_batch.bin': records }),
    );
    expect(cifar.name).toBe('CIFAR-10');
    expect((await cifar.test()).count).toBe(2);

    const idxFiles = {
      'train-images-idx3-ubyte': makeIdx([1, 28, 28], new Uint8Array(784)),
      'train-labels-idx1-ubyte': makeIdx([1], [4]),
    };
    for (const id of ['fashion-mnist', 'mnist'] as const) {
      const dataset = await openDataset({ id }, memoryFileSource(idxFiles));
      expect(Array.from((await dataset.train()).labels)).toEqual([4]);
    }
  });

  it('explains a missing source and an unknown id', async () => {
    await expect(openDataset({ id: 'cifar10' })).rejects.toThrow(
      /dataset 'cifar10' is read from files: pass a FileSource/,
    );
    await expect(openDataset({ id: 'imagenet' as 'mnist' }, memoryFileSource({}))).rejects.toThrow(
      "unknown dataset 'imagenet'; choose one of fashion-mnist, cifar10, mnist, synthetic",
    );
  });

  it('parses each split once however often train()/test() are called', async () => {
    const records = makeCifarRecords([3], cifarTestPattern);
    const memory = memoryFileSource({ 'data_batch_1.bin': records, 'test_batch.bin': records });
    let reads = 0;
    const counting: FileSource = { read: (name) => (reads++, memory.read(name)), list: () => memory.list() };
    const dataset = await openDataset({ id: 'cifar10' }, counting);
    const before = reads;
    const [first, second] = await Promise.all([dataset.train(), dataset.train()]);
    expect(first).toBe(second);
    await dataset.train();
    expect(reads - before).toBe(1);
  });
});

describe('batchToTensor / batchLabels', () => {
  const split: DatasetSplit = {
    // 3 images of 1x2x2: image i holds bytes [i*4 .. i*4+3] * 20
    images: Uint8Array.from({ length: 12 }, (_, b) => b * 20),
    labels: Int32Array.from([7, 8, 9]),
    count: 3,
  };

  it('gathers the indexed images as float32 NHWC scaled to [0, 1], labels in the same order, without leaking', async () => {
    const before = tf.memory().numTensors;
    const batch = batchToTensor(split, [2, 0], [1, 2, 2]);
    expect(batch.shape).toEqual([2, 1, 2, 2]);
    expect(batch.dtype).toBe('float32');
    const values = Array.from(await batch.data());
    const expected = [160, 180, 200, 220, 0, 20, 40, 60].map((byte) => byte / 255);
    values.forEach((value, i) => expect(value).toBeCloseTo(expected[i], 6));
    batch.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(batchLabels(split, Int32Array.from([2, 0])))).toEqual([9, 7]);
  });

  it('rejects indices outside the split and a shape that does not fit the bytes', () => {
    expect(() => batchToTensor(split, [3], [1, 2, 2])).toThrow(
      "batch index 3 (position 0) is outside the split's 0..2",
    );
    expect(() => batchLabels(split, [0, -1])).toThrow(/batch index -1 \(position 1\)/);
    expect(() => batchToTensor(split, [0], [2, 2, 2])).toThrow(/imageShape 2x2x2 needs 24/);
  });
});
