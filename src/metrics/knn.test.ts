import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Rng } from '../nn/random';
import { cosine, randomLabels, randomViews } from '../nn/testing';
import { knnPredict, knnTop1 } from './knn';

/** Points around the axis e_{class} of R^dims with small Gaussian noise. */
function clusters(
  rng: Rng,
  count: number,
  classes: number,
  dims: number,
): { rows: number[][]; labels: number[] } {
  const labels = Array.from({ length: count }, (_, i) => i % classes);
  const rows = labels.map((label) =>
    Array.from({ length: dims }, (_, d) => (d === label ? 1 : 0) + 0.1 * rng.normal()),
  );
  return { rows, labels };
}

/** Weighted kNN written out per query: sort the bank by cosine, vote exp(cos / T) over the top k. */
function referencePredictions(
  bank: number[][],
  bankLabels: number[],
  queries: number[][],
  k: number,
  temperature: number,
): number[] {
  return queries.map((query) => {
    const neighbours = bank
      .map((row, j) => ({ similarity: cosine(query, row), label: bankLabels[j] }))
      .sort((a, b) => b.similarity - a.similarity);
    const scores = new Map<number, number>();
    for (const { similarity, label } of neighbours.slice(0, k))
      scores.set(label, (scores.get(label) ?? 0) + Math.exp(similarity / temperature));
    return [...scores.entries()].sort((a, b) => b[1] - a[1])[0][0];
  });
}

describe('knnTop1', () => {
  it('is 1.0 on well-separated clusters, with k = 200 capped at the bank size', async () => {
    const rng = new Rng(51);
    const bank = clusters(rng, 60, 3, 6);
    const query = clusters(rng, 30, 3, 6);
    const bankEmbeddings = tf.tensor2d(bank.rows);
    const queryEmbeddings = tf.tensor2d(query.rows);
    const accuracy = await knnTop1(
      { embeddings: bankEmbeddings, labels: bank.labels },
      { embeddings: queryEmbeddings, labels: Int32Array.from(query.labels) },
    );
    expect(accuracy).toBe(1);
    // Wrong labels for a third of the queries: accuracy 2/3.
    const shifted = query.labels.map((label, i) => (i % 3 === 0 ? (label + 1) % 3 : label));
    expect(
      await knnTop1(
        { embeddings: bankEmbeddings, labels: bank.labels },
        { embeddings: queryEmbeddings, labels: shifted },
      ),
    ).toBeCloseTo(2 / 3, 6);
    tf.dispose([bankEmbeddings, queryEmbeddings]);
  });

  it('leaks no tensors, chunked or not', async () => {
    const [bankRows, queryRows] = randomViews(52, 2, 25, 4);
    const bank = tf.tensor2d(bankRows);
    const queries = tf.tensor2d(queryRows);
    const before = tf.memory().numTensors;
    await knnTop1(
      { embeddings: bank, labels: randomLabels(53, 25, 3) },
      { embeddings: queries, labels: randomLabels(54, 25, 3) },
      { k: 5, queryChunk: 4 },
    );
    await knnTop1(
      { embeddings: bank, labels: randomLabels(53, 25, 3) },
      { embeddings: queries, labels: randomLabels(54, 25, 3) },
    );
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([bank, queries]);
  });
});

describe('knnPredict', () => {
  it('lets two close neighbours outvote three far ones, unlike a majority vote', async () => {
    // Query (1, 0). Class 0: three bank points at cosine 0.5; class 1: two at cosine 0.9.
    // T = 0.1: 3 e^5 = 445 < 2 e^9 = 16206, so class 1 wins; majority (or T = 100, near-equal weights) says class 0.
    const far = [0.5, Math.sqrt(1 - 0.25)];
    const close = [0.9, Math.sqrt(1 - 0.81)];
    const bank = tf.tensor2d([far, [far[0], -far[1]], far.map((x) => 2 * x), close, [close[0], -close[1]]]);
    const query = tf.tensor2d([[1, 0]]);
    const bankSet = { embeddings: bank, labels: [0, 0, 0, 1, 1] };
    expect(Array.from(await knnPredict(bankSet, query, { k: 5 }))).toEqual([1]);
    expect(Array.from(await knnPredict(bankSet, query, { k: 5, temperature: 100 }))).toEqual([0]);
    // k = 3 keeps the two close class-1 points and one class-0 point.
    expect(Array.from(await knnPredict(bankSet, query, { k: 3, temperature: 100 }))).toEqual([1]);
    tf.dispose([bank, query]);
  });

  it('matches a per-query reference on random data for any query chunk', async () => {
    const [bankRows] = randomViews(55, 1, 50, 5);
    const [queryRows] = randomViews(56, 1, 20, 5);
    const bankLabels = randomLabels(57, 50, 4);
    const bank = tf.tensor2d(bankRows);
    const queries = tf.tensor2d(queryRows);
    for (const [k, temperature] of [
      [7, 0.1],
      [1, 0.1],
      [50, 0.5],
    ]) {
      const expected = referencePredictions(bankRows, bankLabels, queryRows, k, temperature);
      for (const queryChunk of [1, 6, 100]) {
        expect(
          Array.from(
            await knnPredict({ embeddings: bank, labels: bankLabels }, queries, {
              k,
              temperature,
              queryChunk,
            }),
          ),
        ).toEqual(expected);
      }
    }
    tf.dispose([bank, queries]);
  });

  it('explains mismatched inputs', async () => {
    const bank = tf.tensor2d([
      [1, 0],
      [0, 1],
    ]);
    const queries = tf.tensor2d([[1, 0, 0]]);
    await expect(knnPredict({ embeddings: bank, labels: [0, 1] }, queries)).rejects.toThrow(
      /dimension 3 but the bank has 2/,
    );
    await expect(knnPredict({ embeddings: bank, labels: [0] }, bank)).rejects.toThrow(
      /got 1 labels for 2 embeddings/,
    );
    await expect(knnPredict({ embeddings: bank, labels: [0, 3] }, bank, { numClasses: 2 })).rejects.toThrow(
      /out of range for 2 classes/,
    );
    tf.dispose([bank, queries]);
  });
});
