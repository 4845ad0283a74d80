import * as tf from '@tensorflow/tfjs';
import { normalizeRows } from '../nn/rows';
import { checkEmbeddings } from './labels';
import { checkTargets, meanAbsoluteError, rSquared, type RegressionTargets } from './regression_scores';

/** Embeddings [n, D] with one continuous target per row. */
export interface TargetedEmbeddings {
  embeddings: tf.Tensor2D;
  targets: RegressionTargets;
}

export interface KnnRegressionOptions {
  /** Neighbours averaged (default 10); capped at the bank size. */
  k?: number;
  /** Queries scored at a time (default: a [chunk, bank] block of about 4M floats). */
  queryChunk?: number;
}

const SIMILARITY_BLOCK_FLOATS = 1 << 22;

/**
 * kNN regression: for each query q, cos_j = norm(q) . norm(b_j) over the bank, N_k(q) = the k most similar bank
 * rows, yhat(q) = mean_{j in N_k(q)} y_j (unweighted). Returns the predictions read back once.
 */
export async function knnRegressionPredict(
  bank: TargetedEmbeddings,
  queries: tf.Tensor2D,
  options: KnnRegressionOptions = {},
): Promise<Float32Array> {
  checkEmbeddings(bank.embeddings, 'kNN regression bank');
  checkEmbeddings(queries, 'kNN regression queries');
  const [bankSize, dims] = bank.embeddings.shape;
  if (queries.shape[1] !== dims) {
    throw new Error(
      `kNN regression: queries have dimension ${queries.shape[1]} but the bank has ${dims}; embed both with the same network output`,
    );
  }
  checkTargets(bank.targets, bankSize, 'kNN regression bank');
  const requestedK = options.k ?? 10;
  if (!Number.isInteger(requestedK) || requestedK < 1)
    throw new Error(`kNN regression: k must be a positive integer, got ${requestedK}`);
  const k = Math.min(requestedK, bankSize);
  const queryCount = queries.shape[0];
  const queryChunk = options.queryChunk ?? Math.max(1, Math.floor(SIMILARITY_BLOCK_FLOATS / bankSize));
  const normalizedBank = normalizeRows(bank.embeddings);
  const bankTargets = tf.tensor1d(Float32Array.from(bank.targets));
  const chunks: tf.Tensor1D[] = [];
  for (let start = 0; start < queryCount; start += queryChunk) {
    const size = Math.min(queryChunk, queryCount - start);
    chunks.push(
      tf.tidy(() => {
        const chunk = normalizeRows(tf.slice(queries, [start, 0], [size, dims]));
        const nearest = tf.topk(tf.matMul(chunk, normalizedBank, false, true), k);
        return tf.mean(tf.gather(bankTargets, nearest.indices), 1) as tf.Tensor1D;
      }),
    );
  }
  normalizedBank.dispose();
  bankTargets.dispose();
  const predictions = tf.concat(chunks);
  chunks.forEach((c) => c.dispose());
  const values = (await predictions.data()) as Float32Array;
  predictions.dispose();
  return values;
}

/**
 * kNN regression quality of a representation: the mean absolute error and R^2 (regression_scores.ts) of the
 * kNN predictions (knnRegressionPredict) of the query targets from the bank.
 */
export async function knnRegression(
  bank: TargetedEmbeddings,
  query: TargetedEmbeddings,
  options: KnnRegressionOptions = {},
): Promise<{ mae: number; r2: number }> {
  checkTargets(query.targets, query.embeddings.shape[0], 'kNN regression queries');
  const predictions = await knnRegressionPredict(bank, query.embeddings, options);
  return { mae: meanAbsoluteError(predictions, query.targets), r2: rSquared(predictions, query.targets) };
}
