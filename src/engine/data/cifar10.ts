import { once } from './lazy';
import { MissingFileError, readTextIfPresent } from './sources';
import type { Dataset, DatasetSplit, FileSource } from './types';

export const CIFAR10_CLASSES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
];
const SIDE = 32;
const PLANE = SIDE * SIDE;
/** One record of the binary version: 1 label byte + 1024 red + 1024 green + 1024 blue bytes. */
export const CIFAR10_RECORD_BYTES = 1 + 3 * PLANE;
/** The official binary version has five of these; any number (>= 1) is accepted. */
const PROBED_TRAIN_BATCHES = 5;
const REDOWNLOAD = 're-download with npm run datasets -- cifar10';

/**
 * Parses the CIFAR-10 binary format (Krizhevsky 2009, "Learning Multiple Layers of Features from Tiny
 * Images"): records of 3073 bytes, label then the R, G, B planes of a 32x32 image, each plane row-major.
 * The planes (CHW) are interleaved to NHWC: out[((r*32 + y)*32 + x)*3 + c] = bytes[r*3073 + 1 + c*1024 + y*32 + x].
 * `fileName` only names the file in error messages.
 */
export function parseCifarBinary(bytes: Uint8Array, fileName = 'CIFAR-10 batch'): DatasetSplit {
  if (bytes.length === 0 || bytes.length % CIFAR10_RECORD_BYTES !== 0) {
    throw new Error(
      `${fileName} is ${bytes.length} bytes, not a multiple of ${CIFAR10_RECORD_BYTES}: the file is truncated or not CIFAR-10 binary; ${REDOWNLOAD}`,
    );
  }
  const count = bytes.length / CIFAR10_RECORD_BYTES;
  const images = new Uint8Array(count * PLANE * 3);
  const labels = new Int32Array(count);
  for (let record = 0; record < count; record++) {
    const start = record * CIFAR10_RECORD_BYTES;
    const label = bytes[start];
    if (label >= CIFAR10_CLASSES.length) {
      throw new Error(
        `${fileName} record ${record} (byte offset ${start}) has label ${label}, but CIFAR-10 labels are 0-9: ` +
          `the file is not CIFAR-10 binary (CIFAR-100 uses 2 label bytes per record); ${REDOWNLOAD}`,
      );
    }
    labels[record] = label;
    const red = start + 1;
    const out = record * PLANE * 3;
    for (let pixel = 0; pixel < PLANE; pixel++) {
      images[out + pixel * 3] = bytes[red + pixel];
      images[out + pixel * 3 + 1] = bytes[red + PLANE + pixel];
      images[out + pixel * 3 + 2] = bytes[red + 2 * PLANE + pixel];
    }
  }
  return { images, labels, count };
}

/** Splits joined end to end (e.g. data_batch_1..5 into one training split). */
export function concatSplits(splits: DatasetSplit[]): DatasetSplit {
  if (splits.length === 1) return splits[0];
  const count = splits.reduce((sum, split) => sum + split.count, 0);
  const images = new Uint8Array(splits.reduce((sum, split) => sum + split.images.length, 0));
  const labels = new Int32Array(count);
  let imageOffset = 0;
  let labelOffset = 0;
  for (const split of splits) {
    images.set(split.images, imageOffset);
    labels.set(split.labels, labelOffset);
    imageOffset += split.images.length;
    labelOffset += split.count;
  }
  return { images, labels, count };
}

/** Class names from batches.meta.txt (one a line, in label order), or the standard names when it is absent. */
async function readClassNames(source: FileSource): Promise<string[]> {
  const text = await readTextIfPresent(source, 'batches.meta.txt');
  if (text === null) return [...CIFAR10_CLASSES];
  const names = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  if (names.length !== CIFAR10_CLASSES.length) {
    throw new Error(
      `batches.meta.txt lists ${names.length} class names, expected ${CIFAR10_CLASSES.length} (one a line); ${REDOWNLOAD}`,
    );
  }
  return names;
}

/** Training batch names: every data_batch_N.bin the source lists, or data_batch_1..5 up to the first missing one. */
async function readTrainingBatches(source: FileSource): Promise<DatasetSplit> {
  const listed = await source.list();
  const splits: DatasetSplit[] = [];
  if (listed) {
    const batchNames = listed
      .map((name) => ({ name, index: /^data_batch_(\d+)\.bin$/.exec(name)?.[1] }))
      .filter((entry): entry is { name: string; index: string } => entry.index !== undefined)
      .sort((a, b) => Number(a.index) - Number(b.index))
      .map((entry) => entry.name);
    for (const name of batchNames) splits.push(parseCifarBinary(await source.read(name), name));
  } else {
    for (let batch = 1; batch <= PROBED_TRAIN_BATCHES; batch++) {
      const name = `data_batch_${batch}.bin`;
      try {
        splits.push(parseCifarBinary(await source.read(name), name));
      } catch (error) {
        if (error instanceof MissingFileError) break;
        throw error;
      }
    }
  }
  if (splits.length === 0)
    throw new Error(`no CIFAR-10 training batch (data_batch_1.bin ...) found; ${REDOWNLOAD}`);
  return concatSplits(splits);
}

/**
 * CIFAR-10 from a folder holding the binary version's files flat: data_batch_N.bin (any number),
 * test_batch.bin and optionally batches.meta.txt. Class names are read now; pixels on first train()/test().
 */
export async function cifar10Dataset(source: FileSource): Promise<Dataset> {
  const classes = await readClassNames(source);
  const train = once(() => readTrainingBatches(source));
  const test = once(async () => {
    try {
      return parseCifarBinary(await source.read('test_batch.bin'), 'test_batch.bin');
    } catch (error) {
      if (error instanceof MissingFileError)
        throw new Error(`${error.message}; ${REDOWNLOAD}`, { cause: error });
      throw error;
    }
  });
  return { name: 'CIFAR-10', imageShape: [SIDE, SIDE, 3], classes, train, test };
}
