import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { OptimizerConfig } from './config';
import { createOptimizer, learningRate } from './optim';

const baseOptimizer: OptimizerConfig = {
  type: 'sgd',
  lr: 0.1,
  momentum: 0.9,
  weightDecay: 0,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  trustCoefficient: 1e-3,
};

const initialWeights = () =>
  tf.tidy(() =>
    tf.variable(
      tf.tensor2d([
        [1, -2],
        [3, 0.5],
      ]),
    ),
  );

/** Runs `steps` updates of f(w) = sum((w - target)^2) and returns the final weights. */
function runOwn(type: 'sgd' | 'adam' | 'adamw' | 'lars', steps: number, wd = 0): number[][] {
  const w = initialWeights();
  const target = tf.tensor2d([
    [0.5, 0.5],
    [-1, 2],
  ]);
  const opt = createOptimizer({ ...baseOptimizer, type, lr: 0.1, momentum: 0.9, weightDecay: wd });
  for (let s = 0; s < steps; s++) {
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(tf.sub(w, target))) as tf.Scalar, [w]);
    opt.apply([w], [grads[w.name]], 0.1);
    tf.dispose([value, grads]);
  }
  const out = w.arraySync() as number[][];
  w.dispose();
  target.dispose();
  opt.dispose();
  return out;
}

function runStock(make: () => tf.Optimizer, steps: number): number[][] {
  const w = initialWeights();
  const target = tf.tensor2d([
    [0.5, 0.5],
    [-1, 2],
  ]);
  const opt = make();
  for (let s = 0; s < steps; s++) {
    opt.minimize(() => tf.sum(tf.square(tf.sub(w, target))) as tf.Scalar, false, [w]);
  }
  const out = w.arraySync() as number[][];
  w.dispose();
  target.dispose();
  opt.dispose();
  return out;
}

function expectMatrixClose(a: number[][], b: number[][], tol = 1e-5): void {
  a.forEach((row, i) => row.forEach((x, j) => expect(Math.abs(x - b[i][j])).toBeLessThan(tol)));
}

describe('optimizers', () => {
  it('sgd with momentum matches tf.train.momentum (PyTorch form)', () => {
    expectMatrixClose(
      runOwn('sgd', 10),
      runStock(() => tf.train.momentum(0.1, 0.9), 10),
    );
  });

  it('adam matches tf.train.adam', () => {
    expectMatrixClose(
      runOwn('adam', 10),
      runStock(() => tf.train.adam(0.1, 0.9, 0.999, 1e-8), 10),
      1e-4,
    );
  });

  it('adamw decays weights in a decoupled way: one step = adam step - lr * wd * w', () => {
    const adam = runOwn('adam', 1);
    const adamw = runOwn('adamw', 1, 0.5);
    const w0 = [
      [1, -2],
      [3, 0.5],
    ];
    adamw.forEach((row, i) =>
      row.forEach((x, j) => expect(x).toBeCloseTo(adam[i][j] - 0.1 * 0.5 * w0[i][j], 5)),
    );
  });

  it('lars scales the step by eta * ||w|| / ||g||', () => {
    const w0 = [
      [1, -2],
      [3, 0.5],
    ];
    const target = [
      [0.5, 0.5],
      [-1, 2],
    ];
    const g = w0.map((row, i) => row.map((x, j) => 2 * (x - target[i][j])));
    const norm = (m: number[][]) => Math.sqrt(m.flat().reduce((s, x) => s + x * x, 0));
    const trust = (baseOptimizer.trustCoefficient * norm(w0)) / norm(g);
    const expected = w0.map((row, i) => row.map((x, j) => x - 0.1 * trust * g[i][j]));
    expectMatrixClose(runOwn('lars', 1), expected);
  });

  it('state round-trips: a restored optimizer continues exactly', () => {
    const target = tf.tensor2d([
      [0.5, 0.5],
      [-1, 2],
    ]);
    const loss = (w: tf.Variable) => () => tf.sum(tf.square(tf.sub(w, target))) as tf.Scalar;
    const step = (opt: ReturnType<typeof createOptimizer>, w: tf.Variable) => {
      const { value, grads } = tf.variableGrads(loss(w), [w]);
      opt.apply([w], [grads[w.name]], 0.05);
      tf.dispose([value, grads]);
    };
    const cfg = { ...baseOptimizer, type: 'adamw' as const };
    const a = createOptimizer(cfg);
    const wa = initialWeights();
    for (let i = 0; i < 3; i++) step(a, wa);
    const b = createOptimizer(cfg);
    const wb = tf.tidy(() => tf.variable(wa.clone()));
    b.setState(a.getState());
    step(a, wa);
    step(b, wb);
    expectMatrixClose(wa.arraySync() as number[][], wb.arraySync() as number[][], 1e-7);
    [wa, wb, target].forEach((t) => t.dispose());
    a.dispose();
    b.dispose();
  });

  it('does not leak tensors over many steps', () => {
    runOwn('lars', 2);
    const before = tf.memory().numTensors;
    runOwn('lars', 50);
    runOwn('adamw', 50, 0.1);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('learning-rate schedule', () => {
  const schedule = { type: 'cosine' as const, warmupEpochs: 1, minLrFactor: 0 };
  it('warms up linearly then decays by a cosine to the minimum', () => {
    expect(learningRate(1, schedule, 0, 100, 10)).toBeCloseTo(0.1);
    expect(learningRate(1, schedule, 9, 100, 10)).toBeCloseTo(1);
    expect(learningRate(1, schedule, 10, 100, 10)).toBeCloseTo(1);
    expect(learningRate(1, schedule, 55, 100, 10)).toBeCloseTo(0.5);
    expect(learningRate(1, schedule, 100, 100, 10)).toBeCloseTo(0);
    expect(learningRate(1, { ...schedule, minLrFactor: 0.1 }, 100, 100, 10)).toBeCloseTo(0.1);
  });
  it('constant stays at the base rate after warm-up', () => {
    expect(learningRate(0.3, { ...schedule, type: 'constant' }, 50, 100, 10)).toBe(0.3);
  });
});
