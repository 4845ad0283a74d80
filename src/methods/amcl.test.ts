import { LOSS_CATALOG } from '../losses/catalog';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createNetwork } from '../nn/network';
import { buildMlpHead } from '../nn/heads';
import { Rng } from '../nn/random';
import { type AmclModule, type AmclParams, createAmclModule } from './amcl';
import {
  type Matrix,
  checkParamRangeError,
  cosine,
  dot,
  expectAllFinite,
  expectClose,
  expectFiniteOwnGrads,
  expectGradsMatch,
  mean,
  numericalGrad,
  normRow,
  randomViews,
  trainCheckingLeaks,
} from '../losses/testing';

const DEFAULTS: AmclParams = { heads: 3, beta: 1e-4, tauMin: 0.05, tauMax: 2 };
const params = (overrides: Partial<AmclParams> = {}): AmclParams =>
  ({ ...DEFAULTS, ...overrides }) as AmclParams;

/** x W + b for one row, plain loops (W is [in, out] as tf.layers stores kernels). */
const affine = (x: number[], kernel: Matrix, bias: number[]): number[] =>
  bias.map((b, o) => b + x.reduce((s, xi, i) => s + xi * kernel[i][o], 0));

interface PhiWeights {
  kernel0: Matrix;
  bias0: number[];
  kernel1: Matrix;
  bias1: number[];
}

/**
 * The amcl formula with plain loops, given each head's outputs for both views and phi's weights:
 *   tau(a, b) = tauMin + (tauMax - tauMin) sigmoid(-phi(a).phi(b)) on unit embeddings, Omega(t) = D/2 log t + 1/t,
 *   per direction mean_i [ -cos_pos/tau_pos + cos_neg/tau_neg + beta (Omega(tau_pos) - Omega(tau_neg)) ],
 *   n* = argmax_{n != i} cos; averaged over both directions, summed over heads.
 */
function amclReference(headOutputs: [Matrix, Matrix][], phi: PhiWeights, p: AmclParams): number {
  const phiOf = (u: number[]): number[] =>
    affine(
      affine(u, phi.kernel0, phi.bias0).map((h) => Math.max(h, 0)),
      phi.kernel1,
      phi.bias1,
    );
  const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
  let total = 0;
  for (const [first, second] of headOutputs) {
    const d = first[0].length;
    const omega = (t: number): number => (d / 2) * Math.log(t) + 1 / t;
    const oneDirection = (anchors: Matrix, keys: Matrix): number => {
      const units = [anchors.map(normRow), keys.map(normRow)];
      const tau = (i: number, j: number): number =>
        p.tauMin + (p.tauMax - p.tauMin) * sigmoid(-dot(phiOf(units[0][i]), phiOf(units[1][j])));
      const terms = anchors.map((_, i) => {
        let hardest = -1;
        for (let n = 0; n < keys.length; n++) {
          if (n !== i && (hardest < 0 || cosine(anchors[i], keys[n]) > cosine(anchors[i], keys[hardest])))
            hardest = n;
        }
        const tauPos = tau(i, i);
        const tauNeg = tau(i, hardest);
        return (
          -cosine(anchors[i], keys[i]) / tauPos +
          cosine(anchors[i], keys[hardest]) / tauNeg +
          p.beta * (omega(tauPos) - omega(tauNeg))
        );
      });
      return mean(terms);
    };
    total += (oneDirection(first, second) + oneDirection(second, first)) / 2;
  }
  return total;
}

function readWeights(module: AmclModule): Record<string, number[] | Matrix> {
  const state = module.getState();
  const out = Object.fromEntries(
    Object.entries(state).map(([name, t]) => [name, t.arraySync() as number[] | Matrix]),
  );
  Object.values(state).forEach((t) => t.dispose());
  return out;
}

function phiWeights(weights: Record<string, number[] | Matrix>): PhiWeights {
  return {
    kernel0: weights['amcl_phi_fc0/kernel'] as Matrix,
    bias0: weights['amcl_phi_fc0/bias'] as number[],
    kernel1: weights['amcl_phi_fc1/kernel'] as Matrix,
    bias1: weights['amcl_phi_fc1/bias'] as number[],
  };
}

/** Head outputs of single-Linear heads (a network bound with a 1-layer projector), plain loops. */
function linearHeadOutputs(
  features: Matrix[],
  weights: Record<string, number[] | Matrix>,
  heads: number,
): [Matrix, Matrix][] {
  return Array.from({ length: heads }, (_, c) => {
    const kernel = weights[`amcl_head${c}_fc0/kernel`] as Matrix;
    const bias = weights[`amcl_head${c}_fc0/bias`] as number[];
    return [features[0].map((f) => affine(f, kernel, bias)), features[1].map((f) => affine(f, kernel, bias))];
  });
}

/** A real tiny Network whose projector shape amcl's heads copy. */
function tinyNetwork(
  featureDim: number,
  embeddingDim: number,
  projector: { layers: number; hidden: number; batchNorm: boolean },
) {
  return createNetwork(() => ({
    backbone: tf.sequential({
      layers: [tf.layers.flatten({ inputShape: [2, 2, 1] }), tf.layers.dense({ units: featureDim })],
    }),
    projector: buildMlpHead(featureDim, { ...projector, out: embeddingDim }, 3, 'amcl_test_projector'),
  }));
}

/** Loss value and its gradient with respect to the features (views are passed along, they only fix D). */
function valueAndFeatureGrads(
  loss: AmclModule,
  features: Matrix[],
  embeddingDim: number,
): { value: number; grads: Matrix[] } {
  const featureTensors = features.map((f) => tf.tensor2d(f));
  const views = features.map((f) => tf.zeros([f.length, embeddingDim]) as tf.Tensor2D);
  const { value, grads } = tf.valueAndGrads((...fs: tf.Tensor[]) =>
    loss.compute({ views, features: fs as tf.Tensor2D[] }),
  )(featureTensors);
  const out = { value: value.dataSync()[0], grads: grads.map((g) => g.arraySync() as Matrix) };
  tf.dispose([value, ...grads, ...featureTensors, ...views]);
  return out;
}

function amclValue(loss: AmclModule, features: Matrix[], embeddingDim: number): number {
  const featureTensors = features.map((f) => tf.tensor2d(f));
  const views = features.map((f) => tf.zeros([f.length, embeddingDim]) as tf.Tensor2D);
  const value = loss.compute({ views, features: featureTensors });
  const out = value.dataSync()[0];
  tf.dispose([value, ...featureTensors, ...views]);
  return out;
}

/**
 * `steps` SGD steps of a linear backbone x W -> features (views = features P) with amcl's own variables;
 * asserts the live tensor count does not grow after the first step. Returns the first and last loss.
 */
function trainAndCheckLeaks(
  loss: AmclModule,
  opts: { N: number; F: number; D: number; steps: number },
): { first: number; last: number } {
  const rng = new Rng(7);
  const x = tf.tensor2d(
    Array.from({ length: 2 * opts.N }, () => Array.from({ length: 8 }, () => rng.normal())),
  );
  const w = tf.variable(tf.randomNormal([8, opts.F], 0, 0.3, 'float32', 3));
  const toViews = tf.randomNormal([opts.F, opts.D], 0, 1, 'float32', 4);
  const inputs = () => {
    const features = tf.split(tf.matMul(x, w), 2, 0) as tf.Tensor2D[];
    return { views: features.map((f) => tf.matMul(f, toViews) as tf.Tensor2D), features };
  };
  const result = trainCheckingLeaks(loss, [w], inputs, opts.steps);
  tf.dispose([x, w, toViews]);
  return result;
}

describe('amcl', () => {
  it('has the defaults from docs/losses.md and clear errors for missing features, N = 1 and bad view counts', () => {
    expect([
      LOSS_CATALOG.amcl.params.heads.default,
      LOSS_CATALOG.amcl.params.beta.default,
      LOSS_CATALOG.amcl.params.tauMin.default,
      LOSS_CATALOG.amcl.params.tauMax.default,
    ]).toEqual([3, 1e-4, 0.05, 2]);
    const loss = createAmclModule(DEFAULTS);
    const views = [tf.zeros([4, 3]), tf.zeros([4, 3])] as tf.Tensor2D[];
    expect(() => loss.compute({ views })).toThrow(/amcl' needs inputs.features/);
    expect(() => loss.compute({ views: [views[0]], features: views })).toThrow(/exactly 2 views, got 1/);
    expect(() => amclValue(loss, randomViews(1, 2, 1, 4), 3)).toThrow(/at least 2 instances.*got 1/);
    expect(() => loss.setState({})).toThrow(/not built; call bind\(\)/);
    tf.dispose(views);
    loss.dispose();
  });

  it('createLoss rejects out-of-range heads and an inverted temperature range, naming them', async () => {
    await checkParamRangeError('amcl', 'heads', 9, '[1, 8]');
    await checkParamRangeError('amcl', 'tauMin', 0.001, '[0.01, 10]');
    const { createLoss } = await import('./registry');
    expect(() => createLoss('amcl', { heads: 2.5 })).toThrow(/amcl.*heads must be an integer/);
    expect(() => createLoss('amcl', { tauMin: 1, tauMax: 0.5 })).toThrow(
      /amcl: tauMin \(1\) must not exceed tauMax \(0.5\)/,
    );
  });

  it('is finite with finite gradients (features and own variables) on random, N = 2, D = 1, identical and zero-row inputs', () => {
    const identical = randomViews(5, 1, 4, 5);
    const zeroRow = randomViews(3, 2, 4, 5);
    zeroRow[0][2] = [0, 0, 0, 0, 0];
    const cases: [Matrix[], number][] = [
      [randomViews(1, 2, 4, 5), 3],
      [randomViews(2, 2, 2, 5), 3],
      [randomViews(4, 2, 4, 5), 1],
      [[identical[0], identical[0]], 3],
      [zeroRow, 3],
    ];
    const network = tinyNetwork(5, 3, { layers: 1, hidden: 5, batchNorm: false });
    for (const [features, d] of cases) {
      // Default BatchNorm heads (unbound), and single-Linear heads (bias 0: a zero feature row gives a zero embedding).
      const modules = [createAmclModule(DEFAULTS), createAmclModule(DEFAULTS)];
      if (d === 3) modules[1].bind({ network, totalSteps: 1, stepsPerEpoch: 1, numClasses: 2, seed: 1 });
      for (const loss of modules) {
        const { value, grads } = valueAndFeatureGrads(loss, features, d);
        expectAllFinite(value, grads);
        const inputs = {
          views: features.map((f) => tf.zeros([f.length, d]) as tf.Tensor2D),
          features: features.map((f) => tf.tensor2d(f)),
        };
        expectFiniteOwnGrads(loss, inputs);
        tf.dispose([...inputs.views, ...inputs.features]);
        loss.dispose();
      }
    }
    network.dispose();
  });

  it('matches the loop reference with the default BatchNorm heads (head outputs taken from the heads)', () => {
    const p = params({ beta: 0.05 });
    const features = randomViews(11, 2, 5, 6);
    const loss = createAmclModule(p);
    const value = amclValue(loss, features, 4);
    const headOutputs = loss.heads!.map(
      (head) =>
        features.map((f) =>
          tf.tidy(() => (head.apply(tf.tensor2d(f), { training: true }) as tf.Tensor2D).arraySync()),
        ) as [Matrix, Matrix],
    );
    expectClose(value, amclReference(headOutputs, phiWeights(readWeights(loss)), p), 1e-4);
    loss.dispose();
  });

  it('matches the loop reference in value and feature gradient with single-Linear heads (all plain loops)', () => {
    const p = params({ heads: 2, beta: 0.05, tauMin: 0.1, tauMax: 1.5 });
    const network = tinyNetwork(5, 4, { layers: 1, hidden: 5, batchNorm: false });
    const loss = createAmclModule(p);
    loss.bind({ network, totalSteps: 1, stepsPerEpoch: 1, numClasses: 2, seed: 3 });
    const weights = readWeights(loss);
    const reference = (features: Matrix[]): number =>
      amclReference(linearHeadOutputs(features, weights, p.heads), phiWeights(weights), p);
    const features = randomViews(12, 2, 5, 5);
    const { value, grads } = valueAndFeatureGrads(loss, features, 4);
    expectClose(value, reference(features), 1e-4);
    expectGradsMatch(grads, numericalGrad(reference, features));
    loss.dispose();
    network.dispose();
  });

  it('is invariant to permuting instances and to swapping the two views (it is symmetrised)', () => {
    const features = randomViews(21, 2, 6, 5);
    const loss = createAmclModule(params({ beta: 0.05 }));
    const base = amclValue(loss, features, 3);
    const order = [4, 2, 0, 5, 1, 3];
    expectClose(
      amclValue(
        loss,
        features.map((f) => order.map((i) => f[i])),
        3,
      ),
      base,
      1e-5,
    );
    expectClose(amclValue(loss, [features[1], features[0]], 3), base, 1e-5);
    loss.dispose();
  });

  it('with tauMin = tauMax = t equals C (sin(theta) - cos(theta)) / t for a rotated orthonormal batch', () => {
    // Identity heads (single Linear, kernel I, bias 0), view 1 = e_i, view 2 = cos(theta) e_i + sin(theta) e_{i+1}
    // (N = D = 3): cos_pos = cos(theta), the hardest negative has cos = sin(theta) in both directions (z2_{i-1},
    // resp. e_{i+1}), every other cosine is 0. A constant temperature t makes the Omega terms cancel, so each head
    // gives (-cos(theta) + sin(theta)) / t and L sums the C heads.
    const t = 0.4;
    const theta = 0.3;
    const p = params({ heads: 2, beta: 0.01, tauMin: t, tauMax: t });
    const network = tinyNetwork(3, 3, { layers: 1, hidden: 3, batchNorm: false });
    const loss = createAmclModule(p);
    loss.bind({ network, totalSteps: 1, stepsPerEpoch: 1, numClasses: 2, seed: 3 });
    const state = loss.getState();
    const identityHeads = { ...state };
    for (let c = 0; c < p.heads; c++) {
      identityHeads[`amcl_head${c}_fc0/kernel`] = tf.eye(3);
      identityHeads[`amcl_head${c}_fc0/bias`] = tf.zeros([3]);
    }
    loss.setState(identityHeads);
    const first = [0, 1, 2].map((i) => [0, 1, 2].map((d) => (d === i ? 1 : 0)));
    const second = [0, 1, 2].map((i) =>
      [0, 1, 2].map((d) => (d === i ? Math.cos(theta) : d === (i + 1) % 3 ? Math.sin(theta) : 0)),
    );
    expectClose(
      amclValue(loss, [first, second], 3),
      (p.heads * (Math.sin(theta) - Math.cos(theta))) / t,
      1e-5,
    );
    tf.dispose([...Object.values(state), ...Object.values(identityHeads)]);
    loss.dispose();
    network.dispose();
  });

  it('leaks no tensors on compute or over 100 training steps, and trains its heads', () => {
    // Heads shaped like a small projector (hidden 16, BatchNorm) only to keep 100 CPU steps fast.
    const network = tinyNetwork(5, 3, { layers: 2, hidden: 16, batchNorm: true });
    const loss = createAmclModule(params({ heads: 2 }));
    loss.bind({ network, totalSteps: 100, stepsPerEpoch: 10, numClasses: 2, seed: 6 });
    const features = randomViews(4, 2, 6, 5);
    const inputs = {
      views: features.map(() => tf.zeros([6, 3]) as tf.Tensor2D),
      features: features.map((f) => tf.tensor2d(f)),
    };
    const before = tf.memory().numTensors;
    loss.compute(inputs).dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([...inputs.views, ...inputs.features]);
    const headKernel = loss.heads![0].getWeights()[0].arraySync() as Matrix;
    const { first, last } = trainAndCheckLeaks(loss, { N: 6, F: 5, D: 3, steps: 100 });
    expect(Number.isFinite(first) && Number.isFinite(last)).toBe(true);
    expect(last).toBeLessThan(first);
    const trained = loss.heads![0].getWeights()[0].arraySync() as Matrix;
    expect(trained.flat().some((x, i) => Math.abs(x - headKernel.flat()[i]) > 1e-4)).toBe(true);
    loss.dispose();
    network.dispose();
  });

  it("builds its heads in the bound network's projector shape", () => {
    const network = tinyNetwork(5, 4, { layers: 2, hidden: 7, batchNorm: true });
    const loss = createAmclModule(params({ heads: 2 }));
    loss.bind({ network, totalSteps: 1, stepsPerEpoch: 1, numClasses: 2, seed: 3 });
    const head = loss.heads![1];
    const dense = head.layers.filter((l) => l.getClassName() === 'Dense');
    expect(dense.map((l) => l.getConfig().units)).toEqual([7, 4]);
    expect(head.layers.some((l) => l.getClassName() === 'BatchNormalization')).toBe(true);
    expect(head.inputs[0].shape).toEqual([null, 5]);
    expect(loss.temperatureNet!.outputs[0].shape).toEqual([null, 4]);
    loss.dispose();
    network.dispose();
  });

  it('getState / setState round-trips the heads and phi', () => {
    const network = tinyNetwork(5, 3, { layers: 2, hidden: 6, batchNorm: true });
    const binding = { network, totalSteps: 10, stepsPerEpoch: 5, numClasses: 2, seed: 8 };
    const source = createAmclModule(params({ heads: 2 }));
    source.bind(binding);
    trainAndCheckLeaks(source, { N: 4, F: 5, D: 3, steps: 3 }); // moves the weights and BatchNorm statistics
    const state = source.getState();
    const restored = createAmclModule(params({ heads: 2 }));
    restored.bind(binding);
    const features = randomViews(6, 2, 4, 5);
    expect(amclValue(restored, features, 3)).not.toBeCloseTo(amclValue(source, features, 3), 4);
    restored.setState(state);
    expectClose(amclValue(restored, features, 3), amclValue(source, features, 3), 1e-6);
    const truncated = { ...state };
    delete truncated['amcl_phi_fc1/bias'];
    expect(() => restored.setState(truncated)).toThrow(/missing weight 'amcl_phi_fc1\/bias'/);
    Object.values(state).forEach((t) => t.dispose());
    [source, restored].forEach((m) => m.dispose());
    network.dispose();
  });
});
