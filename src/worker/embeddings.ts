import type { Trainer } from '../engine/trainer';
import type { ExportedFile } from './protocol';

/** Embedding Projector files: vectors.tsv (one embedding a line, tab-separated) and metadata.tsv (label, class). */
export function embeddingsTsv(
  vectors: Float32Array,
  dim: number,
  labels: ArrayLike<number>,
  classNames: string[],
): { vectors: string; metadata: string } {
  if (dim <= 0 || vectors.length !== labels.length * dim) {
    throw new Error(
      `embeddingsTsv: ${vectors.length} values do not make ${labels.length} vectors of dimension ${dim}`,
    );
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
export async function exportEmbeddings(
  trainer: Trainer,
  classNames: string[],
  count: number,
): Promise<ExportedFile[]> {
  const { vectors, dim, labels } = await trainer.embedTestFeatures(count);
  const { vectors: vectorText, metadata } = embeddingsTsv(vectors, dim, labels, classNames);
  const encoder = new TextEncoder();
  return [
    { name: 'vectors.tsv', mime: 'text/tab-separated-values', bytes: encoder.encode(vectorText) },
    { name: 'metadata.tsv', mime: 'text/tab-separated-values', bytes: encoder.encode(metadata) },
  ];
}
