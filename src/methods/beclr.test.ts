import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { LOSS_CATALOG, resolveLossParams } from '../losses/catalog';
import {
  cosine,
  dot,
  expectClose,
  expectGradsMatch,
  logSumExp,
  mean,
  normRow,
  numericalGrad,
  randomViews,
  type Matrix,
} from '../losses/testing';
import { beclrLoss, createBeclr, type BeclrParams } from './beclr';
import { createLoss } from './registry';
import { bindLoss, expectNoLeakOverSiameseTraining, randomImages, tinyNetwork } from './testing';

/** The BECLR loss with plain loops (rows r of p1, t2 ... pair up; negatives of r exclude r and r +- b). */
function reference([p1, p2, t1, t2, z1, z2]: Matrix[], lambdaNeg: number, temp: number): number {
  const b = z1.length;
  const pos = -(mean(p1.map((p, r) => cosine(p, t2[r]))) + mean(p2.map((p, r) => cosine(p, t1[r])))) / 2;
  const u = [...z1, ...z2].map(normRow);
  const terms: number[] = [];
  u.forEach((ur, r) =>
    u.forEach((uc, c) => {
      if (c !== r && c !== (r + b) % (2 * b)) terms.push(dot(ur, uc) / temp);
    }),
  );
  const neg = logSumExp(terms) - Math.log(2 * b) - Math.log(2 * b - 2);
  return pos + lambdaNeg * neg;
}

function params(overrides: Partial<BeclrParams> = {}): BeclrParams {
  return { ...resolveLossParams('beclr', {}), ...overrides } as BeclrParams;
}

describe('beclr loss', () => {
  it('matches the loop reference in value and in the numerical gradient (teacher rows are constants)', () => {
    for (const [seed, b, d, lambda, temp] of [
      [1, 4, 3, 0.1, 2],
      [2, 6, 2, 1, 0.5],
      [3, 2, 4, 0.3, 1],
    ]) {
      const rows = randomViews(seed, 6, b, d);
      const tensors = rows.map((m) => tf.tensor2d(m));
      const f = (...xs: tf.Tensor[]) => {
        const [p1, p2, z1, z2] = xs as tf.Tensor2D[];
        return beclrLoss({ p1, p2, t1: tensors[2], t2: tensors[3], z1, z2 }, lambda, temp);
      };
      const { value, grads } = tf.valueAndGrads(f)([tensors[0], tensors[1], tensors[4], tensors[5]]);
      expectClose(value.dataSync()[0], reference(rows, lambda, temp));
      const numeric = numericalGrad(
        ([p1, p2, z1, z2]) => reference([p1, p2, rows[2], rows[3], z1, z2], lambda, temp),
        [rows[0], rows[1], rows[4], rows[5]],
      );
      expectGradsMatch(
        grads.map((g) => g.arraySync() as Matrix),
        numeric,
      );
      tf.dispose([value, ...grads, ...tensors]);
    }
  });

  it('refuses a batch of one instance', () => {
    const one = tf.tensor2d([[1, 0]]);
    expect(() => beclrLoss({ p1: one, p2: one, t1: one, t2: one, z1: one, z2: one }, 0.1, 2)).toThrow(
      /at least 2 instances/,
    );
    one.dispose();
  });
});

describe('beclr method', () => {
  it('is in the catalogue with DyCE on by default, and refuses out-of-range parameters', () => {
    expect(LOSS_CATALOG.beclr.params.dyce.default).toBe(1);
    expect(() => createLoss('beclr', { dyce: 2 })).toThrow(/dyce/);
    expect(() => createLoss('beclr', { topk: 0 })).toThrow(/topk/);
  });

  it('trains without leaking tensors, and with DyCE off the memory never enters', () => {
    for (const dyce of [0, 1]) {
      const network = tinyNetwork(3, 4);
      const loss = createBeclr(
        params({ dyce, memory: 16, partitions: 2, topk: 2, startEpoch: 0, predHidden: 8 }),
      );
      bindLoss(loss, network);
      const images = randomImages(5, 2, 8);
      const { first, last } = expectNoLeakOverSiameseTraining(loss, network, images, 12);
      expect(Number.isFinite(first) && Number.isFinite(last)).toBe(true);
      // 8 rows per view x 2 views = 16 rows a step: the memory (16 rows) fills at the first step
      expect(loss.enhancing).toBe(dyce === 1);
      tf.dispose(images);
      loss.dispose();
      network.dispose();
    }
  });

  it('is the plain-batch loss until the memory has filled and startEpoch has passed, then enlarges the batch', () => {
    const run = (dyce: number) => {
      const network = tinyNetwork(3, 4);
      const loss = createBeclr(
        params({ dyce, memory: 32, partitions: 2, topk: 2, startEpoch: 0.3, predHidden: 8 }),
      );
      bindLoss(loss, network); // 10 steps per epoch: startEpoch 0.3 = after 3 steps
      const images = randomImages(6, 2, 8);
      const values: number[] = [];
      const enhancing: boolean[] = [];
      for (let step = 1; step <= 5; step++) {
        const value = tf.tidy(
          () => loss.compute({ views: images.map((b) => network.forward(b, true).z), images }).dataSync()[0],
        );
        values.push(value);
        enhancing.push(loss.enhancing);
        loss.afterStep({ step, totalSteps: 100 });
      }
      tf.dispose(images);
      loss.dispose();
      network.dispose();
      return { values, enhancing };
    };
    const on = run(1);
    const off = run(0);
    // 16 rows a step: the 32-row memory is full after step 2, startEpoch after step 3
    expect(on.enhancing).toEqual([false, false, false, true, true]);
    // the network is not trained here, so the plain values repeat; the same seeds give the same predictor
    on.values.slice(0, 3).forEach((v, i) => expect(v).toBeCloseTo(off.values[i], 6));
    expect(Math.abs(on.values[3] - off.values[3])).toBeGreaterThan(1e-4);
  });

  it('round-trips its state: teacher, predictor, memories and step count', () => {
    const network = tinyNetwork(3, 4);
    const make = () => {
      const loss = createBeclr(params({ memory: 16, partitions: 2, topk: 2, startEpoch: 0, predHidden: 8 }));
      bindLoss(loss, network, 21);
      return loss;
    };
    const a = make();
    const images = randomImages(7, 2, 8);
    const views = () => images.map((b) => network.forward(b, true).z);
    for (let step = 1; step <= 3; step++) {
      tf.tidy(() => a.compute({ views: views(), images }).dataSync());
      a.afterStep({ step, totalSteps: 10 });
    }
    const state = a.getState();
    const b = make();
    b.setState(state);
    const va = tf.tidy(() => a.compute({ views: views(), images }).dataSync()[0]);
    const vb = tf.tidy(() => b.compute({ views: views(), images }).dataSync()[0]);
    expect(vb).toBe(va);
    const { stepsDone: _dropped, ...partial } = state;
    expect(() => b.setState(partial)).toThrow(/missing stepsDone/);
    tf.dispose([...images, ...Object.values(state)]);
    a.dispose();
    b.dispose();
    network.dispose();
  });
});
