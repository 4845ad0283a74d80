import { formatBytes, inflateCapped, MiB, readTar, SizeLimitError } from './archives';
import { CIFAR10_CLASSES, concatSplits, parseCifarBinary } from '../engine/data/cifar10';
import type { DatasetSplit } from '../engine/data/types';
import type { DroppedFile, UserDatasetPayload } from './protocol';

export type { DroppedFile };

/**
 * Datasets the user drops into the page, parsed in the browser: CIFAR-10 binary batches (.bin), the
 * CIFAR-10 binary tarball (.tar.gz / .tgz / .tar), or a folder of images with one sub-folder per class.
 * Anything else is refused with a message saying what is accepted.
 */

const IMAGE_SIDE = 32;
/**
 * The largest legitimate inputs: the CIFAR-10 binary tarball unpacks to 176 MiB (six 29.3 MiB batches), and an
 * image folder of 200,000 images is ~600 MB of training data once resized to 32x32.
 */
export const DATASET_LIMITS = {
  tarBytes: 256 * MiB,
  tarMembers: 1000,
  imageFiles: 200_000,
  imageFileBytes: 32 * MiB,
};
const IMAGE_EXTENSIONS = /\.(png|jpe?g|gif|webp|bmp)$/i;
const ACCEPTED =
  'drop CIFAR-10 binary batches (data_batch_N.bin, test_batch.bin), the CIFAR-10 binary tarball (cifar-10-binary.tar.gz), or a folder of images with one sub-folder per class';

/** Every `every`-th image goes to the test split (used when the files have no separate test set). */
export function holdOut(
  split: DatasetSplit,
  imageSize: number,
  every = 10,
): { train: DatasetSplit; test: DatasetSplit } {
  const testIndices: number[] = [];
  const trainIndices: number[] = [];
  for (let i = 0; i < split.count; i++) (i % every === every - 1 ? testIndices : trainIndices).push(i);
  const pick = (indices: number[]): DatasetSplit => {
    const images = new Uint8Array(indices.length * imageSize);
    indices.forEach((from, to) =>
      images.set(split.images.subarray(from * imageSize, (from + 1) * imageSize), to * imageSize),
    );
    return { images, labels: Int32Array.from(indices, (i) => split.labels[i]), count: indices.length };
  };
  return { train: pick(trainIndices), test: pick(testIndices) };
}

function baseName(path: string): string {
  return path.split('/').pop() ?? path;
}

/** CIFAR-10 binary batches -> a dataset (test_batch.bin is the test split; without it every 10th image is held out). */
export function cifarFromBinaries(
  files: { name: string; bytes: Uint8Array }[],
  datasetName: string,
): Omit<UserDatasetPayload, 'key'> {
  const test = files.filter((f) => baseName(f.name) === 'test_batch.bin');
  const train = files.filter((f) => baseName(f.name) !== 'test_batch.bin' && f.name.endsWith('.bin'));
  const trainSplits = train.map((f) => parseCifarBinary(f.bytes, baseName(f.name)));
  const testSplits = test.map((f) => parseCifarBinary(f.bytes, baseName(f.name)));
  let splits: { train: DatasetSplit; test: DatasetSplit };
  if (trainSplits.length && testSplits.length)
    splits = { train: concatSplits(trainSplits), test: concatSplits(testSplits) };
  else splits = holdOut(concatSplits([...trainSplits, ...testSplits]), IMAGE_SIDE * IMAGE_SIDE * 3);
  if (splits.train.count < 2 || splits.test.count < 1)
    throw new Error(
      `${datasetName} has too few images (${splits.train.count} train, ${splits.test.count} test) to train on`,
    );
  return {
    name: datasetName,
    imageShape: [IMAGE_SIDE, IMAGE_SIDE, 3],
    classes: [...CIFAR10_CLASSES],
    ...splits,
  };
}

/** The .bin members of a CIFAR-10 tarball (gzipped or not). */
export function binariesFromTarball(
  bytes: Uint8Array,
  fileName: string,
  limits: typeof DATASET_LIMITS = DATASET_LIMITS,
): { name: string; bytes: Uint8Array }[] {
  let tarBytes = bytes;
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      tarBytes = inflateCapped(bytes, { format: 'gzip', limit: limits.tarBytes, what: fileName });
    } catch (error) {
      if (error instanceof SizeLimitError) throw error;
      throw new Error(
        `${fileName} is not a valid gzip file (${(error as Error).message}); download it again`,
        { cause: error },
      );
    }
  } else if (bytes.length > limits.tarBytes) {
    throw new SizeLimitError(
      `${fileName} is ${formatBytes(bytes.length)}, more than the ${formatBytes(limits.tarBytes)} a CIFAR-10 tarball needs`,
    );
  }
  let entries: { name: string; bytes: Uint8Array }[];
  try {
    entries = readTar(tarBytes, { what: fileName, maxMembers: limits.tarMembers });
  } catch (error) {
    if (error instanceof SizeLimitError) throw error;
    throw new Error(`${(error as Error).message}; ${ACCEPTED}`, { cause: error });
  }
  const binaries = entries.filter((e) => /\.bin$/.test(e.name) && !baseName(e.name).startsWith('._'));
  if (binaries.length === 0)
    throw new Error(
      `${fileName} holds no CIFAR-10 .bin batches (is it the Python or Matlab version? use the binary version, cifar-10-binary.tar.gz)`,
    );
  return binaries;
}

/** Decodes one image file to 32x32 RGB bytes (browser only: createImageBitmap + OffscreenCanvas). */
async function decodeImage(file: DroppedFile): Promise<Uint8Array> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([file.bytes.slice().buffer]));
  } catch {
    throw new Error(`${file.path || file.name} could not be decoded as an image; remove it from the folder`);
  }
  const canvas = new OffscreenCanvas(IMAGE_SIDE, IMAGE_SIDE);
  const context = canvas.getContext('2d');
  if (!context)
    throw new Error('this browser cannot draw into an OffscreenCanvas, so image folders cannot be read');
  context.drawImage(bitmap, 0, 0, IMAGE_SIDE, IMAGE_SIDE);
  bitmap.close();
  const rgba = context.getImageData(0, 0, IMAGE_SIDE, IMAGE_SIDE).data;
  const rgb = new Uint8Array(IMAGE_SIDE * IMAGE_SIDE * 3);
  for (let p = 0; p < IMAGE_SIDE * IMAGE_SIDE; p++) {
    rgb[p * 3] = rgba[p * 4];
    rgb[p * 3 + 1] = rgba[p * 4 + 1];
    rgb[p * 3 + 2] = rgba[p * 4 + 2];
  }
  return rgb;
}

/** Class name of an image from its folder path: the folder just above the file. */
export function classOfPath(path: string): string | null {
  const parts = path.split('/').filter(Boolean);
  return parts.length >= 2 ? parts[parts.length - 2] : null;
}

async function imageFolder(
  files: DroppedFile[],
  datasetName: string,
): Promise<Omit<UserDatasetPayload, 'key'>> {
  if (files.length > DATASET_LIMITS.imageFiles)
    throw new SizeLimitError(
      `the folder has ${files.length} images, more than the ${DATASET_LIMITS.imageFiles} this app reads; use a subset`,
    );
  const large = files.find((file) => file.bytes.length > DATASET_LIMITS.imageFileBytes);
  if (large)
    throw new SizeLimitError(
      `${large.path || large.name} is ${formatBytes(large.bytes.length)}, more than the ${formatBytes(DATASET_LIMITS.imageFileBytes)} an image may have here; remove it from the folder`,
    );
  const labelled = files.map((file) => ({ file, className: classOfPath(file.path) }));
  const missing = labelled.find((entry) => entry.className === null);
  if (missing)
    throw new Error(
      `${missing.file.name} is not inside a class folder; drop a folder whose sub-folders are the classes (e.g. pets/cat/1.png, pets/dog/2.png)`,
    );
  const classes = [...new Set(labelled.map((entry) => entry.className as string))].sort();
  if (classes.length < 2)
    throw new Error(
      `the folder has one class (${classes[0]}); contrastive evaluation needs at least 2 class sub-folders`,
    );
  const imageSize = IMAGE_SIDE * IMAGE_SIDE * 3;
  const images = new Uint8Array(labelled.length * imageSize);
  const labels = new Int32Array(labelled.length);
  for (let i = 0; i < labelled.length; i++) {
    images.set(await decodeImage(labelled[i].file), i * imageSize);
    labels[i] = classes.indexOf(labelled[i].className as string);
  }
  const splits = holdOut({ images, labels, count: labelled.length }, imageSize, 5);
  if (splits.train.count < 2 || splits.test.count < 1)
    throw new Error(`the folder has only ${labelled.length} images; add more (at least 10)`);
  return { name: datasetName, imageShape: [IMAGE_SIDE, IMAGE_SIDE, 3], classes, ...splits };
}

/** Parses whatever the user dropped into a dataset, or throws a message that says what was wrong and what is accepted. */
export async function parseDroppedFiles(files: DroppedFile[]): Promise<Omit<UserDatasetPayload, 'key'>> {
  if (files.length === 0) throw new Error(`no files were dropped; ${ACCEPTED}`);
  const tarballs = files.filter((f) => /\.(tar\.gz|tgz|tar)$/i.test(f.name));
  const binaries = files.filter((f) => /\.bin$/i.test(f.name));
  const images = files.filter((f) => IMAGE_EXTENSIONS.test(f.name));
  const others = files.filter(
    (f) =>
      !tarballs.includes(f) &&
      !binaries.includes(f) &&
      !images.includes(f) &&
      !/^\.|\.(txt|md|html)$/i.test(f.name),
  );
  if (others.length > 0)
    throw new Error(
      `${others
        .map((f) => f.name)
        .slice(0, 3)
        .join(', ')} ${others.length > 1 ? 'are' : 'is'} not a supported file; ${ACCEPTED}`,
    );
  if (tarballs.length > 0) {
    return cifarFromBinaries(
      tarballs.flatMap((t) => binariesFromTarball(t.bytes, t.name)),
      tarballs[0].name.replace(/\.(tar\.gz|tgz|tar)$/i, ''),
    );
  }
  if (binaries.length > 0) return cifarFromBinaries(binaries, 'CIFAR-10 (dropped files)');
  if (images.length > 0) return imageFolder(images, images[0].path.split('/')[0] || 'image folder');
  throw new Error(`none of the dropped files can be read; ${ACCEPTED}`);
}
