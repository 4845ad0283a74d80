import * as tf from '@tensorflow/tfjs';
import { normalizeRows } from '../nn/rows';
import { checkEmbeddings, checkLabels, labelTensor, type ClassLabels } from './labels';

/**
 * Tolerance (Wang & Liu 2021, "Understanding the Behaviour of Contrastive Loss"):
 *   tolerance = mean over same-class pairs (i, j), i != j, of norm(z_i) . norm(z_j),
 * how close the embedding keeps semantically similar images (higher = more tolerant).
 *
 * Computed without the n x n similarity matrix: with S_c = sum_{i in class c} norm(z_i),
 *   sum_{i != j, y_i = y_j} norm(z_i) . norm(z_j) = sum_c ||S_c||^2 - sum_i ||norm(z_i)||^2,
 * and the number of such ordered pairs is sum_c n_c^2 - n. One device readback.
 */
export async function tolerance(z: tf.Tensor2D, labels: ClassLabels): Promise<number> {
  checkEmbeddings(z, 'tolerance');
  const n = z.shape[0];
  const numClasses = checkLabels(labels, n, 'tolerance');
  const classCounts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < n; i++) classCounts[labels[i]]++;
  const orderedPairs = classCounts.reduce((sum, count) => sum + count * count, 0) - n;
  if (orderedPairs === 0) {
    throw new Error(
      'tolerance: no two embeddings share a label, so there is no same-class pair; evaluate on a subset with repeated classes',
    );
  }

  const pairSum = tf.tidy(() => {
    const normalized = normalizeRows(z);
    const labelIds = labelTensor(labels);
    const oneHot = tf.oneHot(labelIds, numClasses).toFloat();
    const classSums = tf.matMul(oneHot, normalized, true, false);
    return tf.sub(tf.sum(tf.square(classSums)), tf.sum(tf.square(normalized)));
  });
  const [total] = await pairSum.data();
  pairSum.dispose();
  return total / orderedPairs;
}
