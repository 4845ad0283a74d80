import { LOSS_CATALOG } from '../losses/catalog';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { type HydraModule, type HydraParams, createHydraModule, hydraGates } from './hydra';
import { createNtxent } from '../losses/ntxent';
import {
  type Matrix,
  checkFiniteOnEdgeCases,
  checkParamRangeError,
  dot,
  expectClose,
  expectGradsMatch,
  expectNoLeakOnCompute,
  expectNoLeakOverTraining,
  logSumExp,
  lossValue,
  normRow,
  numericalGrad,
  permuteRows,
  randomLabels,
  randomViews,
  valueAndGrads,
} from '../losses/testing';
import { tinyNetwork } from './testing';

const DEFAULTS: HydraParams = { beta: 1, s0: 10 };
const NTXENT_TAU = 0.5;

/** NT-Xent for two views with plain loops: l_i = -Z_i.Z_p(i)/tau + LSE_{k != i} Z_i.Z_k/tau, mean over 2N anchors. */
function ntxentReference(views: Matrix[], tau: number): number {
  const stacked = [...views[0], ...views[1]].map(normRow);
  const n = views[0].length;
  let total = 0;
  for (let i = 0; i < 2 * n; i++) {
    const others: number[] = [];
    for (let k = 0; k < 2 * n; k++) if (k !== i) others.push(dot(stacked[i], stacked[k]) / tau);
    total += -dot(stacked[i], stacked[(i + n) % (2 * n)]) / tau + logSumExp(others);
  }
  return total / (2 * n);
}

/** cos(g * a, g * b) with plain loops. */
function gatedCosine(gate: number[], a: number[], b: number[]): number {
  return dot(normRow(a.map((x, d) => gate[d] * x)), normRow(b.map((x, d) => gate[d] * x)));
}

/**
 * L_pair with plain loops, given the batch gates g_i (pushed through the module's gate network by the test)
 * and the logit scale s, averaged over the two directions.
 */
function pairReference(
  views: Matrix[],
  labels: number[],
  partner: number[],
  gates: Matrix,
  scale: number,
): number {
  const n = labels.length;
  let result = 0;
  for (const [anchors, keys] of [
    [views[0], views[1]],
    [views[1], views[0]],
  ]) {
    let sum = 0;
    let positiveCount = 0;
    for (let i = 0; i < n; i++) {
      const partnerClass = labels[partner[i]];
      const logit = (j: number): number => scale * gatedCosine(gates[i], anchors[i], keys[j]);
      const negatives: number[] = [];
      for (let k = 0; k < n; k++)
        if (labels[k] !== labels[i] && labels[k] !== partnerClass) negatives.push(logit(k));
      for (let j = 0; j < n; j++) {
        if (labels[j] !== partnerClass) continue;
        sum += logSumExp([logit(j), ...negatives]) - logit(j);
        positiveCount += 1;
      }
    }
    result += sum / positiveCount / 2;
  }
  return result;
}

/** The gates of the batch pairs (y_i, y_pi(i)) in training mode, as compute sees them, and the scale s. */
function learnedParts(
  module: HydraModule,
  labels: number[],
  partner: number[],
): { gates: Matrix; scale: number } {
  const a = tf.tensor1d(labels, 'int32');
  const b = tf.tensor1d(
    partner.map((p) => labels[p]),
    'int32',
  );
  const gates = module.gatesForPairs(a, b, true);
  const out = { gates: gates.arraySync() as Matrix, scale: Math.exp(module.logScale!.dataSync()[0]) };
  tf.dispose([a, b, gates]);
  return out;
}

const fixedPartners = (partner: number[]) => ({ partnerPermutation: () => partner });

describe('hydra', () => {
  it('has the defaults from docs/losses.md, needs labels and two views, with clear errors', () => {
    expect([LOSS_CATALOG.hydra.params.beta.default, LOSS_CATALOG.hydra.params.s0.default]).toEqual([1, 10]);
    expect(LOSS_CATALOG.hydra.needsLabels).toBe(true);
    const loss = createHydraModule(DEFAULTS);
    expect(() => lossValue(loss, randomViews(1, 2, 4, 3))).toThrow(/hydra' needs class labels/);
    expect(() => lossValue(loss, randomViews(1, 3, 4, 3), [0, 1, 0, 1])).toThrow(/exactly 2 views, got 3/);
    expect(() => loss.getState()).toThrow(/not built yet; call bind\(\) or compute\(\) first/);
    loss.dispose();
  });

  it('createLoss rejects out-of-range beta and s0, naming the param and its range', async () => {
    await checkParamRangeError('hydra', 'beta', -1, '[0, 100]');
    await checkParamRangeError('hydra', 's0', 0.5, '[1, 100]');
  });

  it('is finite with finite gradients (views and own variables) on random, N = 2, D = 1, identical and zero-row inputs', () => {
    const labels = {
      random: [0, 1, 2, 1, 0],
      twoInstances: [0, 1],
      oneDimension: [0, 0, 1, 2],
      identical: [2, 0, 1, 2],
      zeroRows: [0, 1, 0, 1],
    };
    // the shared zero-row case zeros a row in both views: the gated cosine of two zero rows must stay finite
    checkFiniteOnEdgeCases(() => createHydraModule(DEFAULTS), { V: 2, labels, ownVariables: true });
  });

  it('matches the loop reference in value and gradient', () => {
    const views = randomViews(11, 2, 6, 4);
    const labels = [0, 1, 2, 0, 1, 2];
    const partner = [1, 5, 3, 0, 2, 4];
    const loss = createHydraModule(DEFAULTS, fixedPartners(partner));
    const { value, grads } = valueAndGrads(loss, views, labels);
    const { gates, scale } = learnedParts(loss, labels, partner);
    const reference = (v: Matrix[]): number =>
      (ntxentReference(v, NTXENT_TAU) + pairReference(v, labels, partner, gates, scale)) / 2;
    expectClose(value, reference(views), 1e-4);
    expectGradsMatch(grads, numericalGrad(reference, views));
    loss.dispose();
  });

  it('with beta = 0 equals NT-Xent (tau 0.5), both the loop reference and the ntxent module', () => {
    const views = randomViews(12, 2, 5, 3);
    const labels = randomLabels(3, 5, 3);
    const loss = createHydraModule({ beta: 0, s0: 10 });
    const plain = createNtxent({ tau: NTXENT_TAU });
    const value = lossValue(loss, views, labels);
    expectClose(value, ntxentReference(views, NTXENT_TAU), 1e-5);
    expectClose(value, lossValue(plain, views), 1e-6);
    loss.dispose();
  });

  it('equals the closed form for three unit vectors with constant gates', () => {
    // Views (identical): u0 = e0, u1 = e1, u2 = (e0 + e1)/sqrt(2); classes 0, 1, 2; partners pi = (1, 2, 0).
    // A constant gate (last Linear: kernel 0, bias 3) leaves cosines unchanged. Anchor i has P_i = {i+1}, N_i = {i+2}:
    //   pair terms: log(e^{s c_{i,i+1}} + e^{s c_{i,i+2}}) - s c_{i,i+1} = softplus(s (c_{i,i+2} - c_{i,i+1}))
    //   i = 0: softplus(s/sqrt2), i = 1: softplus(-s/sqrt2), i = 2: softplus(0) = log 2; same in both directions.
    // NT-Xent (tau): anchors of u0, u1 see the positive (cos 1), two 0s and two 1/sqrt2; anchors of u2 see four 1/sqrt2:
    //   l_01 = -1/tau + log(e^{1/tau} + 2 + 2 e^{1/(sqrt2 tau)}),  l_2 = -1/tau + log(e^{1/tau} + 4 e^{1/(sqrt2 tau)}).
    const r = Math.SQRT1_2;
    const units: Matrix = [
      [1, 0],
      [0, 1],
      [r, r],
    ];
    const loss = createHydraModule(DEFAULTS, fixedPartners([1, 2, 0]));
    lossValue(loss, [units, units], [0, 1, 2]); // builds E and the gates
    const state = loss.getState();
    const constantGate = {
      ...state,
      'hydra_gate_fc1/kernel': tf.zerosLike(state['hydra_gate_fc1/kernel']),
      'hydra_gate_fc1/bias': tf.fill([2], 3),
    };
    loss.setState(constantGate);
    const s = DEFAULTS.s0;
    const softplus = (x: number): number => Math.log1p(Math.exp(x));
    const pair = (softplus(s * r) + softplus(-s * r) + Math.log(2)) / 3;
    const t = NTXENT_TAU;
    const l01 = -1 / t + Math.log(Math.exp(1 / t) + 2 + 2 * Math.exp(r / t));
    const l2 = -1 / t + Math.log(Math.exp(1 / t) + 4 * Math.exp(r / t));
    const expected = ((2 * l01 + l2) / 3 + pair) / 2;
    expectClose(lossValue(loss, [units, units], [0, 1, 2]), expected, 1e-5);
    tf.dispose([
      ...Object.values(state),
      constantGate['hydra_gate_fc1/kernel'],
      constantGate['hydra_gate_fc1/bias'],
    ]);
    loss.dispose();
  });

  it('is invariant to permuting instances (partners permuted alike) and to scaling a row of the raw views', () => {
    const views = randomViews(21, 2, 6, 3);
    const labels = [0, 1, 2, 2, 1, 0];
    const partner = [2, 0, 5, 1, 3, 4];
    const loss = createHydraModule(DEFAULTS, fixedPartners(partner));
    const base = lossValue(loss, views, labels);
    // Row r of the permuted batch is instance order[r]; its partner is the row that holds instance partner[order[r]].
    const order = [4, 2, 0, 5, 1, 3];
    const rowOf = order.map((_, r) => order.indexOf(r));
    const permuted = createHydraModule(DEFAULTS, fixedPartners(order.map((i) => rowOf[partner[i]])));
    const state = loss.getState();
    lossValue(permuted, views, labels); // build, then copy the learned parts
    permuted.setState(state);
    const permutedLabels = order.map((i) => labels[i]);
    expectClose(lossValue(permuted, permuteRows(views, order), permutedLabels), base, 1e-5);
    const scaled = views.map((v) => v.map((row) => row.slice()));
    scaled[0][1] = scaled[0][1].map((x) => 5 * x);
    scaled[1][4] = scaled[1][4].map((x) => 0.02 * x);
    expectClose(lossValue(loss, scaled, labels), base, 1e-5);
    Object.values(state).forEach((t) => t.dispose());
    loss.dispose();
    permuted.dispose();
  });

  it('leaks no tensors on compute or over 100 training steps (bound to a network)', () => {
    const network = tinyNetwork(1, 3);
    // Narrower E and gate network than the paper's 512/1024 only to keep 100 CPU steps fast; same code path.
    const loss = createHydraModule(DEFAULTS, { widths: { embedding: 16, hidden: 32 } });
    loss.bind({ network, totalSteps: 100, stepsPerEpoch: 10, numClasses: 3, seed: 5 });
    const labels = [0, 1, 2, 0, 1, 2, 0, 1];
    expectNoLeakOnCompute(loss, randomViews(4, 2, 8, 3), labels);
    const scaleBefore = loss.logScale!.dataSync()[0];
    const { first, last } = expectNoLeakOverTraining(loss, { V: 2, N: 8, D: 3, labels });
    expect(Number.isFinite(first) && Number.isFinite(last)).toBe(true);
    expect(last).toBeLessThan(first);
    expect(loss.logScale!.dataSync()[0]).not.toBe(scaleBefore); // s is learned
    loss.dispose();
    network.dispose();
  });

  it('builds E from max(label) + 1 when unbound, and from numClasses when bound', () => {
    const lazy = createHydraModule(DEFAULTS);
    lossValue(lazy, randomViews(1, 2, 4, 3), [0, 4, 1, 4]);
    expect(lazy.numClasses).toBe(5);
    const network = tinyNetwork(1, 3);
    const bound = createHydraModule(DEFAULTS);
    bound.bind({ network, totalSteps: 1, stepsPerEpoch: 1, numClasses: 10, seed: 1 });
    expect(bound.numClasses).toBe(10);
    expect(bound.trainableVariables[0].shape).toEqual([10, 512]);
    [lazy, bound].forEach((m) => m.dispose());
    network.dispose();
  });

  it('hydraGates returns the inference-mode gate vector of a class pair, with clear errors', async () => {
    const { createLoss } = await import('./registry');
    const loss = createLoss('hydra') as HydraModule;
    await expect(hydraGates(loss, 0, 1)).rejects.toThrow(/not built yet/);
    lossValue(loss, randomViews(2, 2, 6, 4), [0, 1, 2, 0, 1, 2]);
    const gates = await hydraGates(loss, 0, 2);
    expect(gates.length).toBe(4);
    gates.forEach((g) => expect(g > 0 && g < 1).toBe(true));
    const a = tf.tensor1d([0], 'int32');
    const b = tf.tensor1d([2], 'int32');
    const direct = loss.gatesForPairs(a, b, false);
    (direct.arraySync() as Matrix)[0].forEach((g, d) => expectClose(gates[d], g, 1e-6));
    // (E[a] + E[b]) / 2 is symmetric, so the gate of (a, b) is the gate of (b, a).
    (await hydraGates(loss, 2, 0)).forEach((g, d) => expectClose(g, gates[d], 1e-6));
    await expect(hydraGates(loss, 0, 3)).rejects.toThrow(/class 3 is not in 0..2/);
    const other = createLoss('ntxent');
    expect(() => hydraGates(other, 0, 1)).toThrow(
      /needs a module created by createLoss\('hydra'\), got 'ntxent'/,
    );
    tf.dispose([a, b, direct]);
    loss.dispose();
  });

  it('getState / setState round-trips E, the gates, the scale and the partner draws', () => {
    const network = tinyNetwork(1, 3);
    const binding = { network, totalSteps: 10, stepsPerEpoch: 5, numClasses: 3, seed: 8 };
    const source = createHydraModule(DEFAULTS);
    source.bind(binding);
    const labels = [0, 1, 2, 1];
    expectNoLeakOverTraining(source, { V: 2, N: 4, D: 3, labels, steps: 3 }); // moves the weights and the draws
    const state = source.getState();
    const restored = createHydraModule(DEFAULTS);
    restored.bind(binding);
    const views = randomViews(6, 2, 4, 3);
    restored.setState(state);
    // Same weights and the same next partner permutation, so the same value.
    expectClose(lossValue(restored, views, labels), lossValue(source, views, labels), 1e-6);
    const truncated = { ...state };
    delete truncated['hydra_gate_fc0/kernel'];
    expect(() => restored.setState(truncated)).toThrow(/missing weight 'hydra_gate_fc0\/kernel'/);
    Object.values(state).forEach((t) => t.dispose());
    [source, restored].forEach((m) => m.dispose());
    network.dispose();
  });
});
