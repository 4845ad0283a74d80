import * as tf from '@tensorflow/tfjs';
import { normalizeRows } from '../nn/rows';
import { checkEmbeddings, checkLabels, labelTensor, top1Accuracy, type LabelledEmbeddings } from './labels';

export interface KnnOptions {
  /** Neighbours that vote (200 as in Wu et al. 2018); capped at the bank size. */
  k?: number;
  /** Temperature T of the vote weights exp(cos / T). */
  temperature?: number;
  /** Queries scored at a time; by default enough to keep the similarity block near 4M floats. */
  queryChunk?: number;
  /** Class count (the dataset's); by default the largest bank label + 1. */
  numClasses?: number;
}

/** Similarity-block size the default query chunk aims for (16 MB of float32). */
const SIMILARITY_BLOCK_FLOATS = 1 << 22;

/**
 * Weighted kNN class predictions (Wu et al. 2018, "Unsupervised Feature Learning via
 * Non-Parametric Instance Discrimination"), all on the device: for each query q,
 *   cos_j = norm(q) . norm(b_j) over the bank, N_k(q) = the k most similar bank rows,
 *   score_c = sum_{j in N_k(q), y_j = c} exp(cos_j / T),   prediction = argmax_c score_c.
 * Queries go in chunks so the [chunk, bank] similarity block stays bounded. The returned int32
 * tensor [queries] belongs to the caller.
 */
function knnPredictionTensor(
  bank: LabelledEmbeddings,
  queries: tf.Tensor2D,
  options: KnnOptions,
): tf.Tensor1D {
  checkEmbeddings(bank.embeddings, 'kNN bank');
  checkEmbeddings(queries, 'kNN queries');
  const [bankSize, dims] = bank.embeddings.shape;
  const queryCount = queries.shape[0];
  if (queries.shape[1] !== dims) {
    throw new Error(
      `kNN: queries have dimension ${queries.shape[1]} but the bank has ${dims}; embed both with the same network output`,
    );
  }
  const numClasses = checkLabels(bank.labels, bankSize, 'kNN bank', options.numClasses);
  const temperature = options.temperature ?? 0.1;
  if (!(temperature > 0)) throw new Error(`kNN: temperature must be > 0, got ${temperature}`);
  const requestedK = options.k ?? 200;
  if (!Number.isInteger(requestedK) || requestedK < 1)
    throw new Error(`kNN: k must be a positive integer, got ${requestedK}`);
  const k = Math.min(requestedK, bankSize);
  const queryChunk = options.queryChunk ?? Math.max(1, Math.floor(SIMILARITY_BLOCK_FLOATS / bankSize));
  if (!Number.isInteger(queryChunk) || queryChunk < 1)
    throw new Error(`kNN: queryChunk must be a positive integer, got ${queryChunk}`);

  const normalizedBank = normalizeRows(bank.embeddings);
  const bankLabels = labelTensor(bank.labels);
  const chunkPredictions: tf.Tensor1D[] = [];
  for (let start = 0; start < queryCount; start += queryChunk) {
    const size = Math.min(queryChunk, queryCount - start);
    chunkPredictions.push(
      tf.tidy(() => {
        const chunk = normalizeRows(tf.slice(queries, [start, 0], [size, dims]));
        const nearest = tf.topk(tf.matMul(chunk, normalizedBank, false, true), k);
        const weights = tf.exp(tf.div(nearest.values, temperature));
        const neighbourLabels = tf.gather(bankLabels, nearest.indices);
        const classScores = tf.sum(
          tf.mul(tf.oneHot(neighbourLabels, numClasses), tf.expandDims(weights, 2)),
          1,
        );
        return tf.argMax(classScores, 1) as tf.Tensor1D;
      }),
    );
  }
  normalizedBank.dispose();
  bankLabels.dispose();
  const predictions = tf.concat(chunkPredictions);
  chunkPredictions.forEach((chunk) => chunk.dispose());
  return predictions;
}

/**
 * Weighted kNN predictions for `queries` from a labelled bank (see knnTop1 for the rule):
 * one class id per query row, read back once.
 */
export async function knnPredict(
  bank: LabelledEmbeddings,
  queries: tf.Tensor2D,
  options: KnnOptions = {},
): Promise<Int32Array> {
  const predictions = knnPredictionTensor(bank, queries, options);
  const values = await predictions.data();
  predictions.dispose();
  return Int32Array.from(values);
}

/**
 * Weighted kNN top-1 accuracy (Wu et al. 2018, the label-free monitor used by SimCLR/MoCo
 * codebases): bank = clean train embeddings, cos = norm(q) . norm(b), the k = 200 nearest
 * (k capped at the bank size) vote with weight exp(cos / 0.1), class score = sum of the weights,
 * prediction = argmax; accuracy = fraction of queries whose prediction equals their label.
 * One device readback.
 */
export async function knnTop1(
  bank: LabelledEmbeddings,
  query: LabelledEmbeddings,
  options: KnnOptions = {},
): Promise<number> {
  checkLabels(query.labels, query.embeddings.shape[0], 'kNN queries', options.numClasses);
  const predictions = knnPredictionTensor(bank, query.embeddings, options);
  const accuracy = await top1Accuracy(predictions, query.labels);
  predictions.dispose();
  return accuracy;
}
