import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Rng } from '../nn/random';
import { linearProbeTop1 } from './linear_probe';

/**
 * Linearly separable but not trivially so: class c sits around the direction m_c (random unit
 * vectors in 8-D, shared by train and test) with Gaussian spread, then rows get random scales
 * (which the probe's normalisation undoes).
 */
function separable(seed: number, count: number): { rows: number[][]; labels: number[] } {
  const directionRng = new Rng(99);
  const means = Array.from({ length: 4 }, () => Array.from({ length: 8 }, () => directionRng.normal()));
  const rng = new Rng(seed);
  const labels = Array.from({ length: count }, () => rng.int(4));
  const rows = labels.map((label) => {
    const scale = rng.uniform(0.5, 5);
    return means[label].map((m) => scale * (m + 0.25 * rng.normal()));
  });
  return { rows, labels };
}

async function probe(
  train: { rows: number[][]; labels: number[] },
  test: { rows: number[][]; labels: number[] },
): Promise<number> {
  const trainEmbeddings = tf.tensor2d(train.rows);
  const testEmbeddings = tf.tensor2d(test.rows);
  const accuracy = await linearProbeTop1(
    { embeddings: trainEmbeddings, labels: train.labels },
    { embeddings: testEmbeddings, labels: Int32Array.from(test.labels) },
  );
  tf.dispose([trainEmbeddings, testEmbeddings]);
  return accuracy;
}

describe('linearProbeTop1', () => {
  it('exceeds 0.95 on linearly separable classes, deterministically', async () => {
    const train = separable(61, 200);
    const test = separable(62, 200);
    const accuracy = await probe(train, test);
    expect(accuracy).toBeGreaterThan(0.95);
    expect(await probe(train, test)).toBe(accuracy);
  });

  it('stays near chance (1/4) when the labels carry no information', async () => {
    const rng = new Rng(63);
    const random = (count: number) => ({
      rows: Array.from({ length: count }, () => Array.from({ length: 8 }, () => rng.normal())),
      labels: Array.from({ length: count }, () => rng.int(4)),
    });
    // 400 test points: the standard error of an accuracy near 0.25 is 0.022.
    const accuracy = await probe(random(200), random(400));
    expect(accuracy).toBeGreaterThan(0.25 - 0.1);
    expect(accuracy).toBeLessThan(0.25 + 0.1);
  });

  it('is 1/4 with zero steps (all-zero logits pick class 0) and leaks no tensors', async () => {
    const train = separable(64, 40);
    const testLabels = [0, 1, 2, 3, 0, 1, 2, 3];
    const trainEmbeddings = tf.tensor2d(train.rows);
    const testEmbeddings = tf.tensor2d(separable(65, 8).rows);
    const before = tf.memory().numTensors;
    expect(
      await linearProbeTop1(
        { embeddings: trainEmbeddings, labels: train.labels },
        { embeddings: testEmbeddings, labels: testLabels },
        { steps: 0 },
      ),
    ).toBe(0.25);
    await linearProbeTop1(
      { embeddings: trainEmbeddings, labels: train.labels },
      { embeddings: testEmbeddings, labels: testLabels },
      { steps: 5 },
    );
    expect(tf.memory().numTensors).toBe(before);
    await expect(
      linearProbeTop1(
        { embeddings: trainEmbeddings, labels: train.labels },
        { embeddings: tf.zeros([2, 3]) as tf.Tensor2D, labels: [0, 1] },
      ),
    ).rejects.toThrow(/dimension 3 but train features have 8/);
    tf.dispose([trainEmbeddings, testEmbeddings]);
  });
});
