import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { randomLabels, randomViews } from '../nn/testing';
import {
  alignment,
  effectiveRank,
  evaluateEmbeddings,
  knnTop1,
  linearProbeTop1,
  spectrum,
  tolerance,
  uniformity,
  type EvalInput,
} from './index';

const EVAL = 30;
const BANK = 40;

function makeInput(): EvalInput {
  const [cleanH, viewAH, viewBH] = randomViews(81, 3, EVAL, 10);
  const [cleanZ, viewAZ, viewBZ] = randomViews(82, 3, EVAL, 6);
  const [bankH] = randomViews(83, 1, BANK, 10);
  const [bankZ] = randomViews(84, 1, BANK, 6);
  return {
    clean: { h: tf.tensor2d(cleanH), z: tf.tensor2d(cleanZ) },
    viewA: { h: tf.tensor2d(viewAH), z: tf.tensor2d(viewAZ) },
    viewB: { h: tf.tensor2d(viewBH), z: tf.tensor2d(viewBZ) },
    evalLabels: Int32Array.from(randomLabels(85, EVAL, 3)),
    bank: {
      h: tf.tensor2d(bankH),
      z: tf.tensor2d(bankZ),
      labels: Int32Array.from(randomLabels(86, BANK, 3)),
    },
  };
}

function disposeInput(input: EvalInput): void {
  tf.dispose([
    input.clean.h,
    input.clean.z,
    input.viewA.h,
    input.viewA.z,
    input.viewB.h,
    input.viewB.z,
    input.bank.h,
    input.bank.z,
  ]);
}

describe('evaluateEmbeddings', () => {
  it('reports each metric for h and z exactly as the metric functions compute it, without leaks', async () => {
    const input = makeInput();
    const before = tf.memory().numTensors;
    const metrics = await evaluateEmbeddings(input, { knnK: 5, linearProbe: { steps: 20 } });
    expect(tf.memory().numTensors).toBe(before);

    for (const representation of ['h', 'z'] as const) {
      const set = metrics[representation];
      const clean = input.clean[representation];
      const bank = { embeddings: input.bank[representation], labels: input.bank.labels };
      expect(set.alignment).toBeCloseTo(
        await alignment(input.viewA[representation], input.viewB[representation]),
        6,
      );
      expect(set.uniformity).toBeCloseTo(await uniformity(clean), 6);
      expect(set.tolerance).toBeCloseTo(await tolerance(clean, input.evalLabels), 6);
      expect(set.spectrum).toEqual(await spectrum(clean));
      expect(set.effectiveRank).toBeCloseTo(await effectiveRank(clean), 6);
      expect(set.knnTop1).toBe(
        await knnTop1(bank, { embeddings: clean, labels: input.evalLabels }, { k: 5 }),
      );
    }
    expect(metrics.h.spectrum).toHaveLength(10);
    expect(metrics.z.spectrum).toHaveLength(6);
    expect(metrics.h.alignment).not.toBeCloseTo(metrics.z.alignment, 3);
    expect(metrics.knnTop1).toBe(metrics.h.knnTop1);
    expect(metrics.knnTop1Z).toBe(metrics.z.knnTop1);
    expect(metrics.linearProbeTop1).toBe(
      await linearProbeTop1(
        { embeddings: input.bank.h, labels: input.bank.labels },
        { embeddings: input.clean.h, labels: input.evalLabels },
        { steps: 20 },
      ),
    );
    disposeInput(input);
  });

  it('skips the linear probe unless asked, and returns plain serialisable data', async () => {
    const input = makeInput();
    const metrics = await evaluateEmbeddings(input);
    expect(metrics.linearProbeTop1).toBeNull();
    expect(JSON.parse(JSON.stringify(metrics))).toEqual(metrics);
    disposeInput(input);
  });

  it('names the input whose rows do not match its labels', async () => {
    const input = makeInput();
    const shortView = tf.slice(input.viewB.z, [0, 0], [EVAL - 1, 6]) as tf.Tensor2D;
    await expect(evaluateEmbeddings({ ...input, viewB: { h: input.viewB.h, z: shortView } })).rejects.toThrow(
      /viewB\.z has 29 rows but there are 30 labels/,
    );
    shortView.dispose();
    disposeInput(input);
  });
});
