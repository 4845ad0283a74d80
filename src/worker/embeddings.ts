import * as tf from '@tensorflow/tfjs';
import { batchToTensor } from '../engine/data/index';
import type { Dataset } from '../engine/data/types';
import type { Network } from '../engine/encoders/types';
import type { ExportedFile } from './protocol';

const CHUNK = 128;

/**
 * Per-channel mean and standard deviation of the first `count` images of a split in [0, 1] units: the
 * trainer standardises its inputs with these, so embeddings for export must use the same ones.
 */
export function channelStatistics(images: Uint8Array, channels: number, pixelCount: number): { mean: number[]; std: number[] } {
  const sum = new Float64Array(channels);
  const sumSq = new Float64Array(channels);
  for (let p = 0; p < pixelCount; p++) {
    for (let c = 0; c < channels; c++) {
      const v = images[p * channels + c] / 255;
      sum[c] += v;
      sumSq[c] += v * v;
    }
  }
  const mean = Array.from(sum, (s) => s / pixelCount);
  const std = Array.from(sumSq, (s, c) => Math.sqrt(Math.max(s / pixelCount - mean[c] ** 2, 1e-6)));
  return { mean, std };
}

/** Embedding Projector files: vectors.tsv (one embedding a line, tab-separated) and metadata.tsv (label, class). */
export function embeddingsTsv(vectors: Float32Array, dim: number, labels: ArrayLike<number>, classNames: string[]): { vectors: string; metadata: string } {
  if (dim <= 0 || vectors.length !== labels.length * dim) {
    throw new Error(`embeddingsTsv: ${vectors.length} values do not make ${labels.length} vectors of dimension ${dim}`);
  }
  const vectorLines: string[] = [];
  const metadataLines: string[] = ['label\tclass'];
  for (let i = 0; i < labels.length; i++) {
    const row: string[] = [];
    for (let d = 0; d < dim; d++) row.push(String(Number(vectors[i * dim + d].toPrecision(6))));
    vectorLines.push(row.join('\t'));
    const name = classNames[labels[i]] ?? String(labels[i]);
    metadataLines.push(`${labels[i]}\t${name.replace(/[\t\n]/g, ' ')}`);
  }
  return { vectors: vectorLines.join('\n') + '\n', metadata: metadataLines.join('\n') + '\n' };
}

/**
 * Backbone features h of the first `count` test images (clean, standardised like in training), as the two
 * Embedding Projector TSV files.
 */
export async function exportEmbeddings(network: Network, dataset: Dataset, count: number, trainLimit: number): Promise<ExportedFile[]> {
  const [train, test] = await Promise.all([dataset.train(), dataset.test()]);
  const [height, width, channels] = dataset.imageShape;
  const statsImages = Math.min(trainLimit > 0 ? Math.min(trainLimit, train.count) : train.count, 10_000);
  const { mean, std } = channelStatistics(train.images, channels, statsImages * height * width);
  const total = Math.min(count, test.count);
  const dim = network.featureDim;
  const vectors = new Float32Array(total * dim);
  for (let start = 0; start < total; start += CHUNK) {
    const indices = Array.from({ length: Math.min(CHUNK, total - start) }, (_, k) => start + k);
    const h = tf.tidy(() => {
      const images = batchToTensor(test, indices, dataset.imageShape);
      return network.forward(tf.div(tf.sub(images, mean), std) as tf.Tensor4D, false).h;
    });
    vectors.set(await h.data(), start * dim);
    h.dispose();
  }
  const { vectors: vectorText, metadata } = embeddingsTsv(vectors, dim, test.labels.subarray(0, total), dataset.classes);
  const encoder = new TextEncoder();
  return [
    { name: 'vectors.tsv', mime: 'text/tab-separated-values', bytes: encoder.encode(vectorText) },
    { name: 'metadata.tsv', mime: 'text/tab-separated-values', bytes: encoder.encode(metadata) },
  ];
}
