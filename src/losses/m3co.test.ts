import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { m3coLoss, mixRows, softClipLoss } from './m3co';
import {
  type Matrix,
  type Objective,
  checkFiniteOnEdgeCases,
  checkNoLeaksAndTraining,
  dot,
  expectClose,
  expectMatchesReference,
  logSumExp,
  lossValue,
  normRow,
  randomViews,
} from './testing';

const mixRow = (x: Matrix, lambdas: number[], perm: number[]): Matrix =>
  x.map((row, i) => row.map((v, d) => lambdas[i] * v + (1 - lambdas[i]) * x[perm[i]][d]));

/** M3Co with plain loops: soft targets T_ij = lambda_i [j = i] + (1 - lambda_i) [j = perm(i)], both directions. */
function m3coReference(mixed: Matrix, fixed: Matrix, lambdas: number[], perm: number[], tau: number): number {
  const p = mixed.map(normRow);
  const q = fixed.map(normRow);
  const n = p.length;
  const target = (i: number, j: number) => (j === i ? lambdas[i] : 0) + (j === perm[i] ? 1 - lambdas[i] : 0);
  const logits = p.map((a) => q.map((b) => dot(a, b) / tau));
  let rows = 0;
  let columns = 0;
  for (let i = 0; i < n; i++) {
    const rowLse = logSumExp(logits[i]);
    for (let j = 0; j < n; j++) rows -= target(i, j) * (logits[i][j] - rowLse);
  }
  for (let j = 0; j < n; j++) {
    const columnLse = logSumExp(logits.map((row) => row[j]));
    for (let i = 0; i < n; i++) columns -= target(i, j) * (logits[i][j] - columnLse);
  }
  return (rows / n + columns / n) / 2;
}

/** SoftCLIP with plain loops: T = softmax_row(t t^T / tau), cross-entropy of the rows of p t^T/tau and of its transpose. */
function softClipReference(preds: Matrix, targs: Matrix, tau: number): number {
  const p = preds.map(normRow);
  const t = targs.map(normRow);
  const n = p.length;
  const soft = t.map((a) => {
    const logits = t.map((b) => dot(a, b) / tau);
    const lse = logSumExp(logits);
    return logits.map((x) => Math.exp(x - lse));
  });
  const logits = p.map((a) => t.map((b) => dot(a, b) / tau));
  let first = 0;
  let second = 0;
  for (let i = 0; i < n; i++) {
    const rowLse = logSumExp(logits[i]);
    const columnLse = logSumExp(logits.map((row) => row[i]));
    for (let j = 0; j < n; j++) {
      first -= soft[i][j] * (logits[i][j] - rowLse);
      second -= soft[i][j] * (logits[j][i] - columnLse);
    }
  }
  return (first + second) / (2 * n);
}

/** views[0] mixed by (lambdas, perm) against views[1], as an Objective for the shared checks. */
function m3coObjective(lambdas: number[], perm: number[], tau: number): Objective {
  return {
    id: 'm3col',
    trainableVariables: [],
    compute({ views }) {
      const l = tf.tensor1d(lambdas);
      const p = tf.tensor1d(perm, 'int32');
      try {
        return tf.tidy(() => m3coLoss(mixRows(views[0], l, p), views[1], l, p, tau));
      } finally {
        tf.dispose([l, p]);
      }
    },
    dispose() {},
  };
}

const softClipObjective = (tau: number): Objective => ({
  id: 'm3col',
  trainableVariables: [],
  compute: ({ views }) => softClipLoss(views[0], views[1], tau),
  dispose() {},
});

describe('m3co loss', () => {
  it('mixRows mixes rows of any rank with their partners', () => {
    const x = tf.tensor3d([[[1, 2]], [[3, 4]], [[5, 6]]]);
    const l = tf.tensor1d([0.25, 1, 0.5]);
    const p = tf.tensor1d([1, 0, 0], 'int32');
    const mixed = mixRows(x, l, p);
    expect(Array.from(mixed.dataSync())).toEqual([2.5, 3.5, 3, 4, 3, 4]);
    tf.dispose([x, l, p, mixed]);
  });

  it('matches the loop reference in value and numerical gradient (mixture, fixed modality and both)', () => {
    for (const [seed, n, d, tau] of [
      [1, 5, 3, 0.5],
      [2, 4, 2, 0.1],
      [3, 6, 4, 1],
    ]) {
      const lambdas = Array.from({ length: n }, (_, i) => [0.2, 1, 0.7, 0.05, 0.5, 1][i]);
      const perm = Array.from({ length: n }, (_, i) => (i * 3 + 1) % n);
      perm[n - 1] = n - 1; // a row mixed with itself: T_ii = 1
      expectMatchesReference(m3coObjective(lambdas, perm, tau), randomViews(seed, 2, n, d), ([x, y]) =>
        m3coReference(mixRow(x, lambdas, perm), y, lambdas, perm, tau),
      );
    }
  });

  it('without mixing (lambda = 1) it is the symmetric CLIP loss; the soft targets follow lambda', () => {
    const views = randomViews(5, 2, 5, 3);
    const n = 5;
    const identity = Array.from({ length: n }, (_, i) => i);
    const clip = (() => {
      const p = views[0].map(normRow);
      const q = views[1].map(normRow);
      const logits = p.map((a) => q.map((b) => dot(a, b) / 0.3));
      const rows = logits.map((row, i) => logSumExp(row) - row[i]);
      const columns = logits.map((_, j) => logSumExp(logits.map((row) => row[j])) - logits[j][j]);
      return (rows.reduce((s, x) => s + x, 0) + columns.reduce((s, x) => s + x, 0)) / (2 * n);
    })();
    expectClose(lossValue(m3coObjective(new Array(n).fill(1), [1, 2, 3, 4, 0], 0.3), views), clip);
    expectClose(lossValue(m3coObjective(new Array(n).fill(0.4), identity, 0.3), views), clip);
  });

  it('softClipLoss matches its loop reference in value and numerical gradient', () => {
    for (const [seed, n, d, tau] of [
      [6, 5, 3, 0.125],
      [7, 3, 2, 0.5],
    ]) {
      expectMatchesReference(softClipObjective(tau), randomViews(seed, 2, n, d), ([p, t]) =>
        softClipReference(p, t, tau),
      );
    }
  });

  it('is finite on the edge cases, leaks nothing and lowers in training', () => {
    // a mixing for any batch size: shares cycling through [0.3, 1, 0.6, 0.9, 0.5], partners in reverse order
    const anySize: Objective = {
      id: 'm3col',
      trainableVariables: [],
      compute({ views }) {
        const n = views[0].shape[0];
        const shares = Array.from({ length: n }, (_, i) => [0.3, 1, 0.6, 0.9, 0.5][i % 5]);
        const partners = Array.from({ length: n }, (_, i) => n - 1 - i);
        return m3coObjective(shares, partners, 0.1).compute({ views });
      },
      dispose() {},
    };
    checkFiniteOnEdgeCases(() => anySize, { V: 2 });
    checkFiniteOnEdgeCases(() => softClipObjective(0.1), { V: 2 });
    checkNoLeaksAndTraining(softClipObjective(0.5), { V: 2 });
    checkNoLeaksAndTraining(m3coObjective([0.3, 1, 0.6, 0.8], [1, 0, 3, 2], 0.5), {
      V: 2,
      trained: m3coObjective([0.3, 1, 0.6, 0.8, 0.5, 1], [1, 0, 3, 2, 5, 4], 0.5),
    });
  });
});
