import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { sepclrLoss, type SepclrParams } from './sepclr';
import {
  expectClose,
  expectGradsMatch,
  logSumExp,
  mean,
  normRow,
  numericalGrad,
  randomViews,
  sqDist,
  type Matrix,
} from './testing';

const PARAMS: SepclrParams = { tau: 0.5, betaSalient: 3, betaReg: 2, lambdaJem: 0.7 };

/** The reference code's align_loss: mean_i ||x_i - y_i||^2 / (2 tau) over the given rows (0 when there are none). */
const align = (x: Matrix, y: Matrix, rows: number[], tau: number) =>
  rows.length === 0 ? 0 : mean(rows.map((i) => sqDist(x[i], y[i]) / (2 * tau)));

/** uniform_loss: log of the mean over pairs i < j (torch.pdist) of exp(-||x_i - x_j||^2 / (2 tau)). */
function unif(x: Matrix, tau: number): number {
  const terms: number[] = [];
  for (let i = 0; i < x.length; i++)
    for (let j = i + 1; j < x.length; j++) terms.push(-sqDist(x[i], x[j]) / (2 * tau));
  return logSumExp(terms) - Math.log(terms.length);
}

/** joint_entropy_loss: mean_i log mean_j (torch.cdist, j = i included) of the product of the two kernels. */
const jem = (c: Matrix, s: Matrix, tau: number) =>
  mean(
    c.map(
      (_, i) =>
        logSumExp(c.map((__, j) => -(sqDist(c[i], c[j]) + sqDist(s[i], s[j])) / (2 * tau))) -
        Math.log(c.length),
    ),
  );

/** The SepCLR objective with plain loops, written from the reference training step (sep_clr_k-jem.py). */
function reference([c1raw, c2raw, s1, s2]: Matrix[], target: number[], p: SepclrParams): number {
  const c1 = c1raw.map(normRow);
  const c2 = c2raw.map(normRow);
  const t1 = s1.map((row, i) => (target[i] ? row : row.map(() => 0)));
  const t2 = s2.map((row, i) => (target[i] ? row : row.map(() => 0)));
  const all = c1.map((_, i) => i);
  const tgt = all.filter((i) => target[i] === 1);
  const bg = all.filter((i) => target[i] === 0);
  const zeros = s1.map((row) => row.map(() => 0));
  const common = align(c1, c2, all, p.tau) + 2 * ((unif(c2, p.tau) + unif(c1, p.tau)) / 2);
  const salient = align(s1, s2, tgt, p.tau) + 2 * ((unif(t2, p.tau) + unif(t1, p.tau)) / 2);
  const reg = (align(zeros, s1, bg, p.tau) + align(zeros, s2, bg, p.tau)) / 2;
  const j = (jem(c1, t1, p.tau) + jem(c2, t2, p.tau)) / 2;
  return common + p.betaSalient * salient + p.betaReg * reg + p.lambdaJem * j;
}

function valueAndGrads(
  views: Matrix[],
  target: number[],
  p: SepclrParams,
): { value: number; grads: Matrix[] } {
  const tensors = views.map((v) => tf.tensor2d(v));
  const flags = tf.tensor1d(target, 'int32');
  const f = (c1: tf.Tensor, c2: tf.Tensor, s1: tf.Tensor, s2: tf.Tensor) => {
    const parts = sepclrLoss(
      {
        c1: c1 as tf.Tensor2D,
        c2: c2 as tf.Tensor2D,
        s1: s1 as tf.Tensor2D,
        s2: s2 as tf.Tensor2D,
        target: flags,
      },
      p,
    );
    tf.dispose([parts.common, parts.salient, parts.reg, parts.jem]);
    return parts.total;
  };
  const { value, grads } = tf.valueAndGrads((...xs: tf.Tensor[]) => f(xs[0], xs[1], xs[2], xs[3]))(tensors);
  const out = { value: value.dataSync()[0], grads: grads.map((g) => g.arraySync() as Matrix) };
  tf.dispose([value, ...grads, ...tensors, flags]);
  return out;
}

describe('sepclr objective', () => {
  it('matches the loop reference in value and in the numerical gradient of every input', () => {
    for (const [seed, n, d, target] of [
      [1, 5, 3, [1, 0, 1, 1, 0]],
      [2, 4, 2, [0, 0, 1, 0]],
      [3, 6, 4, [1, 1, 1, 0, 0, 0]],
    ] as [number, number, number, number[]][]) {
      const views = randomViews(seed, 4, n, d);
      const { value, grads } = valueAndGrads(views, target, PARAMS);
      expectClose(value, reference(views, target, PARAMS));
      expectGradsMatch(
        grads,
        numericalGrad((v) => reference(v, target, PARAMS), views),
      );
    }
  });

  it('handles batches with only background or only target rows (an empty group adds 0, never NaN)', () => {
    const views = randomViews(4, 4, 4, 3);
    for (const target of [
      [0, 0, 0, 0],
      [1, 1, 1, 1],
    ]) {
      const { value, grads } = valueAndGrads(views, target, PARAMS);
      expect(Number.isFinite(value)).toBe(true);
      expectClose(value, reference(views, target, PARAMS));
      for (const g of grads) for (const row of g) for (const x of row) expect(Number.isFinite(x)).toBe(true);
    }
  });

  it("its information-less term is zero exactly when every background salient embedding is s' = 0", () => {
    const views = randomViews(5, 4, 4, 3);
    const target = [1, 0, 1, 0];
    const zeroed = views.map((v, k) =>
      k >= 2 ? v.map((row, i) => (target[i] ? row : row.map(() => 0))) : v,
    );
    const regOf = (vs: Matrix[]) => {
      const [c1, c2, s1, s2] = vs.map((v) => tf.tensor2d(v));
      const flags = tf.tensor1d(target, 'int32');
      const parts = sepclrLoss({ c1, c2, s1, s2, target: flags } as never, PARAMS);
      const reg = parts.reg.dataSync()[0];
      tf.dispose([c1, c2, s1, s2, flags, ...Object.values(parts)]);
      return reg;
    };
    expect(regOf(zeroed)).toBe(0);
    expect(regOf(views)).toBeGreaterThan(0);
  });

  it('refuses a batch of one row and mismatched inputs', () => {
    const one = tf.tensor2d([[1, 2]]);
    const flag = tf.tensor1d([1], 'int32');
    expect(() => sepclrLoss({ c1: one, c2: one, s1: one, s2: one, target: flag }, PARAMS)).toThrow(
      /at least 2 rows/,
    );
    const two = tf.tensor2d([
      [1, 2],
      [3, 4],
    ]);
    expect(() => sepclrLoss({ c1: two, c2: two, s1: two, s2: one, target: flag }, PARAMS)).toThrow(
      /s2 has 1 rows/,
    );
    tf.dispose([one, flag, two]);
  });
});
