import { gunzipCapped } from './gzip';
import { once } from './lazy';
import { readFirstPresent } from './sources';
import type { Dataset, DatasetSplit, FileSource } from './types';

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];
export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** The idx element types (third magic byte); only unsigned bytes occur in (Fashion-)MNIST. */
const IDX_TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};
const IDX_UNSIGNED_BYTE = 0x08;

/**
 * The most an idx file may decompress to: 64 MiB, room above the largest (Fashion-)MNIST file (60,000 28x28
 * images, 47,040,016 bytes) for a larger dataset in the same layout, while a gzip bomb stops early.
 */
export const IDX_MAX_BYTES = 64 * 1024 * 1024;

export interface IdxArray {
  /** sizes of each dimension, outermost first (e.g. [60000, 28, 28]) */
  dims: number[];
  data: Uint8Array;
}

/** True for the gzip magic 0x1f 0x8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Parses an idx file (LeCun et al., the MNIST format): magic = 0x00 0x00 <type> <number of dims>, then each
 * dim as a big-endian uint32, then prod(dims) elements row-major. Gzipped input (0x1f8b) is decompressed first,
 * because servers may or may not undo the .gz for us, up to IDX_MAX_BYTES (gzip.ts: checked before any output is
 * kept). Only type 0x08 (unsigned byte) is supported.
 */
export function parseIdx(bytes: Uint8Array, fileName = 'idx file'): IdxArray {
  const raw = isGzip(bytes)
    ? gunzipCapped(
        bytes,
        IDX_MAX_BYTES,
        fileName,
        'the largest (Fashion-)MNIST idx file, train-images-idx3-ubyte, is 47,040,016 bytes',
      )
    : bytes;
  if (raw.length < 4 || raw[0] !== 0 || raw[1] !== 0) {
    throw new Error(
      `${fileName} is not an idx file: it must start with the bytes 00 00 <type> <dims>; use the (Fashion-)MNIST *-idx?-ubyte(.gz) files`,
    );
  }
  const type = raw[2];
  const rank = raw[3];
  if (type !== IDX_UNSIGNED_BYTE) {
    const typeName = IDX_TYPE_NAMES[type] ?? 'an unknown type';
    throw new Error(
      `${fileName} holds ${typeName} (type 0x${type.toString(16).padStart(2, '0')}); only unsigned-byte idx files (type 0x08, as in (Fashion-)MNIST) are supported`,
    );
  }
  if (rank === 0)
    throw new Error(`${fileName} declares 0 dimensions; an idx file of images or labels has at least 1`);
  const headerBytes = 4 + 4 * rank;
  if (raw.length < headerBytes)
    throw new Error(
      `${fileName} is ${raw.length} bytes, too short for its ${rank}-dimension header of ${headerBytes} bytes: the file is truncated`,
    );
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const dims = Array.from({ length: rank }, (_, d) => view.getUint32(4 + 4 * d, false));
  const expected = headerBytes + dims.reduce((product, size) => product * size, 1);
  if (raw.length !== expected) {
    const problem = raw.length < expected ? 'truncated' : 'longer than its header says';
    throw new Error(
      `${fileName} is ${raw.length} bytes but its header (dims ${dims.join('x')}) needs ${expected}: the file is ${problem}; fetch it again`,
    );
  }
  return { dims, data: raw.subarray(headerBytes) };
}

/** One split from an idx3 images file [N, H, W] and an idx1 labels file [N], checked against each other. */
export function idxSplit(
  images: IdxArray,
  labels: IdxArray,
  expected: { height: number; width: number; classes: number; imagesFile: string; labelsFile: string },
): DatasetSplit {
  const { height, width, classes, imagesFile, labelsFile } = expected;
  if (images.dims.length !== 3 || images.dims[1] !== height || images.dims[2] !== width) {
    throw new Error(
      `${imagesFile} has dims ${images.dims.join('x')}, expected N x ${height} x ${width} images; is this the images file?`,
    );
  }
  if (labels.dims.length !== 1)
    throw new Error(
      `${labelsFile} has dims ${labels.dims.join('x')}, expected one label per image (1 dimension); is this the labels file?`,
    );
  const count = images.dims[0];
  if (labels.dims[0] !== count) {
    throw new Error(
      `${imagesFile} has ${count} images but ${labelsFile} has ${labels.dims[0]} labels; the two files must come from the same split`,
    );
  }
  const labelValues = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = labels.data[i];
    if (label >= classes)
      throw new Error(`${labelsFile} label ${i} is ${label}, but this dataset has classes 0-${classes - 1}`);
    labelValues[i] = label;
  }
  // [N, H, W] with one channel is already NHWC.
  return { images: images.data, labels: labelValues, count };
}

/** Reads '<base>.gz' or '<base>' from the source and parses it as idx. */
async function readIdxFile(source: FileSource, baseName: string): Promise<{ name: string; array: IdxArray }> {
  const { name, bytes } = await readFirstPresent(source, [`${baseName}.gz`, baseName]);
  return { name, array: parseIdx(bytes, name) };
}

async function readIdxSplit(
  source: FileSource,
  prefix: 'train' | 't10k',
  classes: number,
): Promise<DatasetSplit> {
  const images = await readIdxFile(source, `${prefix}-images-idx3-ubyte`);
  const labels = await readIdxFile(source, `${prefix}-labels-idx1-ubyte`);
  return idxSplit(images.array, labels.array, {
    height: 28,
    width: 28,
    classes,
    imagesFile: images.name,
    labelsFile: labels.name,
  });
}

/** An MNIST-layout dataset: train-/t10k-images-idx3-ubyte and -labels-idx1-ubyte, each raw or .gz; 28x28x1. */
function mnistLayoutDataset(name: string, classes: string[], source: FileSource): Dataset {
  return {
    name,
    imageShape: [28, 28, 1],
    classes: [...classes],
    train: once(() => readIdxSplit(source, 'train', classes.length)),
    test: once(() => readIdxSplit(source, 't10k', classes.length)),
  };
}

/** Fashion-MNIST (Xiao, Rasul, Vollgraf 2017): 60,000 train / 10,000 test 28x28 grayscale clothing images, 10 classes. */
export function fashionMnistDataset(source: FileSource): Dataset {
  return mnistLayoutDataset('Fashion-MNIST', FASHION_MNIST_CLASSES, source);
}

/** MNIST (LeCun et al. 1998): 60,000 train / 10,000 test 28x28 grayscale handwritten digits. */
export function mnistDataset(source: FileSource): Dataset {
  return mnistLayoutDataset('MNIST', MNIST_CLASSES, source);
}
