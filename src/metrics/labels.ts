import * as tf from '@tensorflow/tfjs';

/** Integer class labels as plain data (a dataset split's Int32Array, or a number array). */
export type ClassLabels = Int32Array | readonly number[];

/**
 * Checks that `labels` has one non-negative integer per embedding row (each below numClasses
 * when given) and returns the class count: numClasses, else the largest label + 1. Labels are
 * plain data so metrics never need to read them back from the device.
 */
export function checkLabels(labels: ClassLabels, rows: number, what: string, numClasses?: number): number {
  if (labels.length !== rows) {
    throw new Error(
      `${what}: got ${labels.length} labels for ${rows} embeddings; pass one label per embedding row`,
    );
  }
  let maxLabel = -1;
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (!Number.isInteger(label) || label < 0) {
      throw new Error(`${what}: label ${label} at index ${i} is not a non-negative integer class id`);
    }
    if (label > maxLabel) maxLabel = label;
  }
  if (numClasses === undefined) return maxLabel + 1;
  if (maxLabel >= numClasses) {
    throw new Error(
      `${what}: label ${maxLabel} is out of range for ${numClasses} classes; pass the dataset's class count as numClasses`,
    );
  }
  return numClasses;
}

/** The labels as an int32 tensor [n] (the caller disposes it). */
export function labelTensor(labels: ClassLabels): tf.Tensor1D {
  return tf.tensor1d(labels instanceof Int32Array ? labels : Int32Array.from(labels), 'int32');
}

/** Throws when an embedding matrix has no rows or no columns. */
export function checkEmbeddings(z: tf.Tensor2D, what: string, minRows = 1): void {
  if (z.rank !== 2)
    throw new Error(`${what}: expected a 2-D [n, D] embedding matrix, got shape [${z.shape.join(', ')}]`);
  const [rows, dims] = z.shape;
  if (rows < minRows || dims < 1) {
    throw new Error(
      `${what}: needs at least ${minRows} embedding row(s) of dimension >= 1, got [${rows}, ${dims}]`,
    );
  }
}

/** Embeddings [n, D] with one class label per row. */
export interface LabelledEmbeddings {
  embeddings: tf.Tensor2D;
  labels: ClassLabels;
}

/** Fraction of predictions equal to the labels, counted on the device and read back once. */
export async function top1Accuracy(predictions: tf.Tensor1D, labels: ClassLabels): Promise<number> {
  const correct = tf.tidy(() => {
    const labelIds = labelTensor(labels);
    return tf.sum(tf.cast(tf.equal(predictions, labelIds), 'float32'));
  });
  const [count] = await correct.data();
  correct.dispose();
  return count / labels.length;
}
