import * as tf from '@tensorflow/tfjs';
import { cifar10Dataset } from './cifar10';
import { fashionMnistDataset, mnistDataset } from './idx';
import { syntheticDataset, type SyntheticOptions } from './synthetic';
import { DATASET_IDS, type Dataset, type DatasetId, type DatasetSplit, type FileSource } from './types';

export { DATASET_IDS, type DatasetId };

export type { Dataset, DatasetSplit, FileSource } from './types';
export { cifar10Dataset, parseCifarBinary, CIFAR10_CLASSES } from './cifar10';
export { fashionMnistDataset, mnistDataset, parseIdx, FASHION_MNIST_CLASSES, MNIST_CLASSES } from './idx';
export { syntheticDataset, SYNTHETIC_DEFAULTS, type SyntheticOptions } from './synthetic';
export { fetchFileSource, memoryFileSource, MissingFileError } from './sources';

/** What a run config says about its data: the dataset id, plus generator options for 'synthetic'. */
export interface DatasetSpec extends Partial<SyntheticOptions> {
  id: DatasetId;
}

/**
 * Opens the dataset named by `spec.id`. File-backed datasets read from `source` (nodeFileSource(dir) in Node,
 * fetchFileSource('/datasets/<id>') in the browser, memoryFileSource for dropped files); 'synthetic' needs none.
 */
export async function openDataset(spec: DatasetSpec, source?: FileSource): Promise<Dataset> {
  if (spec.id === 'synthetic') {
    const { id: _id, ...options } = spec;
    return syntheticDataset(options);
  }
  if (!(DATASET_IDS as readonly string[]).includes(spec.id)) {
    throw new Error(`unknown dataset '${String(spec.id)}'; choose one of ${DATASET_IDS.join(', ')}`);
  }
  if (!source) {
    throw new Error(
      `dataset '${spec.id}' is read from files: pass a FileSource (nodeFileSource(dir) in Node, fetchFileSource('/datasets/${spec.id}') in the browser)`,
    );
  }
  switch (spec.id) {
    case 'cifar10':
      return cifar10Dataset(source);
    case 'fashion-mnist':
      return fashionMnistDataset(source);
    case 'mnist':
      return mnistDataset(source);
  }
}

function checkIndices(split: DatasetSplit, indices: ArrayLike<number>): void {
  for (let i = 0; i < indices.length; i++) {
    const index = indices[i];
    if (!Number.isInteger(index) || index < 0 || index >= split.count) {
      throw new Error(`batch index ${index} (position ${i}) is outside the split's 0..${split.count - 1}`);
    }
  }
}

/**
 * The images at `indices` as a float32 NHWC tensor [indices.length, H, W, C] with values byte / 255 in [0, 1].
 * The caller owns (and disposes) the tensor.
 */
export function batchToTensor(
  split: DatasetSplit,
  indices: ArrayLike<number>,
  imageShape: readonly [number, number, number],
): tf.Tensor4D {
  const [height, width, channels] = imageShape;
  const imageSize = height * width * channels;
  if (split.images.length !== split.count * imageSize) {
    throw new Error(
      `split holds ${split.images.length} bytes for ${split.count} images, but imageShape ${imageShape.join('x')} needs ${split.count * imageSize}; pass the dataset's imageShape`,
    );
  }
  checkIndices(split, indices);
  const values = new Float32Array(indices.length * imageSize);
  for (let i = 0; i < indices.length; i++) {
    const start = indices[i] * imageSize;
    const out = i * imageSize;
    for (let p = 0; p < imageSize; p++) values[out + p] = split.images[start + p] / 255;
  }
  return tf.tensor4d(values, [indices.length, height, width, channels]);
}

/** The labels at `indices`, in the same order as batchToTensor's images. */
export function batchLabels(split: DatasetSplit, indices: ArrayLike<number>): Int32Array {
  checkIndices(split, indices);
  return Int32Array.from({ length: indices.length }, (_, i) => split.labels[indices[i]]);
}
