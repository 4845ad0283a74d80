import { deflateSync, gzipSync, zipSync } from 'fflate';
import { createTar } from 'nanotar';
import { describe, expect, it } from 'vitest';
import { inflateCapped, KiB, MiB, readTar, SizeLimitError, unzipCapped } from './archives';
import { binariesFromTarball, DATASET_LIMITS } from './user_datasets';
import { weightsFileFrom } from './weights_files';

/** Rewrites the uncompressed size a zip declares for its first member (local header and directory). */
function declareSize(zip: Uint8Array, size: number): void {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  view.setUint32(22, size, true);
  for (let at = zip.length - 22; at >= 0; at--) {
    if (view.getUint32(at, true) === 0x06054b50) {
      view.setUint32(view.getUint32(at + 16, true) + 24, size, true);
      return;
    }
  }
}

/** A tar archive's header block with its checksum recomputed after an edit. */
function rechecksum(tar: Uint8Array, headerOffset: number): void {
  const header = tar.subarray(headerOffset, headerOffset + 512);
  header.fill(0x20, 148, 156);
  const sum = header.reduce((s, b) => s + b, 0);
  header.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, '0')}\0 `), 148);
}

function setSizeField(tar: Uint8Array, headerOffset: number, field: string): void {
  const bytes = new TextEncoder().encode(field.padEnd(11, '\0'));
  tar.set(bytes.subarray(0, 12), headerOffset + 124);
  rechecksum(tar, headerOffset);
}

describe('inflateCapped', () => {
  it('round-trips deflate and gzip data under the limit', () => {
    const data = new TextEncoder().encode('contrastive '.repeat(10_000));
    expect(inflateCapped(deflateSync(data), { format: 'deflate', limit: MiB, what: 'x' })).toEqual(data);
    expect(inflateCapped(gzipSync(data), { format: 'gzip', limit: MiB, what: 'x' })).toEqual(data);
  });

  it('stops a decompression bomb at the limit, naming the input and the limit', () => {
    const bomb = gzipSync(new Uint8Array(16 * MiB)); // ~16 KiB that unpack to 16 MiB
    expect(bomb.length).toBeLessThan(32 * KiB);
    const run = () => inflateCapped(bomb, { format: 'gzip', limit: MiB, what: 'bomb.tar.gz', slice: 1024 });
    expect(run).toThrow(SizeLimitError);
    expect(run).toThrow(/bomb\.tar\.gz decompresses to more than 1 MiB/);
  });

  it('refuses truncated and non-compressed input', () => {
    const gz = gzipSync(new TextEncoder().encode('hello world '.repeat(100)));
    expect(() =>
      inflateCapped(gz.subarray(0, gz.length - 12), { format: 'gzip', limit: MiB, what: 'cut.gz' }),
    ).toThrow();
    expect(() =>
      inflateCapped(new TextEncoder().encode('plain text'), { format: 'gzip', limit: MiB, what: 'p.gz' }),
    ).toThrow();
  });
});

describe('readTar', () => {
  const files = [
    { name: 'dir/a.bin', data: new Uint8Array(700).fill(7) },
    { name: 'dir/b.txt', data: new TextEncoder().encode('b') },
  ];

  it('reads regular files as views into the archive', () => {
    const members = readTar(createTar(files), { what: 't.tar' });
    expect(members.map((m) => m.name)).toEqual(['dir/a.bin', 'dir/b.txt']);
    expect(members[0].bytes.length).toBe(700);
    expect(members[0].bytes.every((b) => b === 7)).toBe(true);
  });

  it('refuses a member whose declared size runs past the archive, instead of allocating or looping', () => {
    const tar = createTar(files);
    setSizeField(tar, 0, '77777777777'); // 8 GiB
    expect(() => readTar(tar, { what: 'big.tar' })).toThrow(
      /big\.tar is damaged: an entry at byte 0 declares/,
    );
    setSizeField(tar, 0, 'NaN');
    expect(() => readTar(tar, { what: 'nan.tar' })).toThrow(/unreadable size/);
  });

  it('refuses a header with a bad checksum and archives with too many entries', () => {
    const tar = createTar(files);
    tar[10] ^= 0xff;
    expect(() => readTar(tar, { what: 'sum.tar' })).toThrow(/bad header checksum/);
    const many = createTar(
      Array.from({ length: 12 }, (_, i) => ({ name: `f${i}`, data: new Uint8Array(1) })),
    );
    expect(() => readTar(many, { what: 'many.tar', maxMembers: 10 })).toThrow(SizeLimitError);
  });

  it('is what the CIFAR-10 tarball reader uses: a bogus member size is a clear error', () => {
    const tar = createTar([{ name: 'cifar-10-batches-bin/data_batch_1.bin', data: new Uint8Array(3073) }]);
    setSizeField(tar, 0, '7777777');
    expect(() => binariesFromTarball(gzipSync(tar), 'c.tar.gz')).toThrow(/c\.tar\.gz is damaged/);
    expect(() =>
      binariesFromTarball(gzipSync(new Uint8Array(3 * MiB)), 'zeros.tar.gz', {
        ...DATASET_LIMITS,
        tarBytes: 2 * MiB,
      }),
    ).toThrow(/zeros\.tar\.gz decompresses to more than 2 MiB/);
    expect(DATASET_LIMITS.tarBytes).toBeGreaterThan(176 * MiB); // the real CIFAR-10 tarball fits
  });
});

describe('unzipCapped', () => {
  const limits = { what: 'w.zip', maxMembers: 4, memberLimit: MiB, totalLimit: 2 * MiB };

  it('unpacks stored and deflated members', () => {
    const zip = zipSync({
      'a.txt': [new TextEncoder().encode('aaa'.repeat(100)), { level: 9 }],
      'b.bin': [new Uint8Array([1, 2]), { level: 0 }],
    });
    const files = unzipCapped(zip, limits);
    expect(Object.keys(files).sort()).toEqual(['a.txt', 'b.bin']);
    expect(files['a.txt'].length).toBe(300);
    expect(Array.from(files['b.bin'])).toEqual([1, 2]);
  });

  it('checks the declared sizes and the member count before inflating anything', () => {
    const big = zipSync({ 'w.bin': new Uint8Array(3 * MiB) });
    expect(() => unzipCapped(big, limits)).toThrow(/w\.zip: w\.bin unpacks to 3 MiB, more than the 1 MiB/);
    const total = zipSync({ a: new Uint8Array(MiB), b: new Uint8Array(MiB), c: new Uint8Array(MiB) });
    expect(() => unzipCapped(total, limits)).toThrow(/unpacks to more than 2 MiB/);
    const many = zipSync(
      Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`f${i}`, new Uint8Array(1)])),
    );
    expect(() => unzipCapped(many, limits)).toThrow(/has 5 files, more than the 4/);
  });

  it('stops a member that inflates past its declared size (a lying directory)', () => {
    const zip = zipSync({ 'w.bin': new Uint8Array(512 * KiB) });
    declareSize(zip, 1024);
    expect(() => unzipCapped(zip, limits)).toThrow(/w\.zip: w\.bin decompresses to more than 1 KiB/);
  });

  it('is what the weights import uses', () => {
    const bomb = zipSync({ 'weights.bin': new Uint8Array(16) });
    declareSize(bomb, 1100 * MiB); // refused from the directory alone, before 1.1 GB is allocated
    expect(() => weightsFileFrom([{ name: 'bomb.zip', mime: '', bytes: bomb }])).toThrow(
      /bomb\.zip: weights\.bin unpacks to 1100 MiB, more than the 1024 MiB/,
    );
    expect(() => weightsFileFrom([{ name: 'x.zip', mime: '', bytes: new Uint8Array(50) }])).toThrow(
      /x\.zip is not a valid zip file/,
    );
  });
});
