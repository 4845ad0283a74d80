import { createTar } from 'nanotar';
import { gzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import {
  binariesFromTarball,
  cifarFromBinaries,
  classOfPath,
  holdOut,
  parseDroppedFiles,
} from './user_datasets';

/** n CIFAR-10 binary records: record r has label r % 10 and every pixel byte = r. */
function cifarRecords(n: number, offset = 0): Uint8Array {
  const bytes = new Uint8Array(n * 3073);
  for (let r = 0; r < n; r++) {
    bytes[r * 3073] = (r + offset) % 10;
    bytes.fill(r + offset, r * 3073 + 1, (r + 1) * 3073);
  }
  return bytes;
}

describe('user datasets', () => {
  it('uses test_batch.bin as the test split when present', () => {
    const dataset = cifarFromBinaries(
      [
        { name: 'data_batch_1.bin', bytes: cifarRecords(6) },
        { name: 'test_batch.bin', bytes: cifarRecords(3, 100) },
      ],
      'mine',
    );
    expect(dataset.train.count).toBe(6);
    expect(dataset.test.count).toBe(3);
    expect(dataset.test.labels[0]).toBe(0); // 100 % 10
    expect(dataset.test.images[0]).toBe(100);
    expect(dataset.imageShape).toEqual([32, 32, 3]);
  });

  it('holds out every 10th image without a test batch', () => {
    const dataset = cifarFromBinaries([{ name: 'data_batch_1.bin', bytes: cifarRecords(20) }], 'mine');
    expect(dataset.train.count).toBe(18);
    expect(dataset.test.count).toBe(2);
    expect(Array.from(dataset.test.labels)).toEqual([9, 9]); // records 9 and 19
  });

  it('reads .bin members of a gzipped tarball', async () => {
    const tar = createTar([
      { name: 'cifar-10-batches-bin/data_batch_1.bin', data: cifarRecords(12) },
      { name: 'cifar-10-batches-bin/readme.html', data: new TextEncoder().encode('hi') },
    ]);
    const members = binariesFromTarball(gzipSync(tar), 'c.tar.gz');
    expect(members.map((m) => m.name)).toEqual(['cifar-10-batches-bin/data_batch_1.bin']);
    const parsed = await parseDroppedFiles([{ name: 'c.tar.gz', path: 'c.tar.gz', bytes: gzipSync(tar) }]);
    expect([parsed.train.count, parsed.test.count]).toEqual([11, 1]);
    expect(parsed.name).toBe('c');
  });

  it('refuses files it cannot read with a message that says what is accepted', async () => {
    await expect(
      parseDroppedFiles([{ name: 'notes.pdf', path: 'notes.pdf', bytes: new Uint8Array(10) }]),
    ).rejects.toThrow(/notes\.pdf is not a supported file; drop CIFAR-10/);
    await expect(
      parseDroppedFiles([{ name: 'data_batch_1.bin', path: 'data_batch_1.bin', bytes: new Uint8Array(100) }]),
    ).rejects.toThrow(/not a multiple of 3073/);
    await expect(parseDroppedFiles([])).rejects.toThrow(/no files were dropped/);
  });

  it('derives class names from folders and splits deterministically', () => {
    expect(classOfPath('pets/cat/1.png')).toBe('cat');
    expect(classOfPath('1.png')).toBeNull();
    const split = holdOut(
      { images: Uint8Array.from([0, 1, 2, 3, 4]), labels: Int32Array.from([0, 1, 2, 3, 4]), count: 5 },
      1,
      5,
    );
    expect(Array.from(split.test.labels)).toEqual([4]);
    expect(Array.from(split.train.images)).toEqual([0, 1, 2, 3]);
  });
});
