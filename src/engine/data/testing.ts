// Builders of small, valid (or deliberately broken) dataset files for tests.
import { CIFAR10_RECORD_BYTES } from './cifar10';

/**
 * CIFAR-10 binary records with the given labels; the byte at (record, channel, y, x) is
 * pixelValue(record, channel, y, x), so a test can predict every pixel of the NHWC result.
 */
export function makeCifarRecords(
  labels: number[],
  pixelValue: (record: number, channel: number, y: number, x: number) => number,
): Uint8Array {
  const bytes = new Uint8Array(labels.length * CIFAR10_RECORD_BYTES);
  labels.forEach((label, record) => {
    const start = record * CIFAR10_RECORD_BYTES;
    bytes[start] = label;
    for (let channel = 0; channel < 3; channel++)
      for (let y = 0; y < 32; y++)
        for (let x = 0; x < 32; x++)
          bytes[start + 1 + channel * 1024 + y * 32 + x] = pixelValue(record, channel, y, x) & 0xff;
  });
  return bytes;
}

/** A pixel pattern that differs per record, channel, row and column (all within 0..255). */
export function cifarTestPattern(record: number, channel: number, y: number, x: number): number {
  return (record * 37 + channel * 71 + y * 5 + x * 3) % 256;
}

/** An unsigned-byte idx file: magic 00 00 08 <rank>, big-endian dims, then the data. */
export function makeIdx(dims: number[], data: ArrayLike<number>): Uint8Array {
  const header = 4 + 4 * dims.length;
  const bytes = new Uint8Array(header + data.length);
  const view = new DataView(bytes.buffer);
  bytes[2] = 0x08;
  bytes[3] = dims.length;
  dims.forEach((size, d) => view.setUint32(4 + 4 * d, size, false));
  bytes.set(Array.from(data), header);
  return bytes;
}
