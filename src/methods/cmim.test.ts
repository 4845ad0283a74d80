import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { buildNetwork } from '../nn/networks';
import { Rng } from '../nn/random';
import type { Network } from '../nn/types';
import {
  cosine,
  expectAllFinite,
  expectClose,
  expectGradsMatch,
  logSumExp,
  mean,
  numericalGrad,
  randomViews,
  type Matrix,
} from '../losses/testing';
import {
  amimLoss,
  createCmim,
  LOGVAR_RANGE,
  posteriorContrastive,
  type CmimModule,
  type CmimParams,
} from './cmim';
import { createLoss } from './registry';
import { stateArrays } from './testing';

const IMAGE: [number, number, number] = [4, 4, 1];
const PARAMS: CmimParams = { lambda: 2, tau: 0.5, decoderWidth: 2 };
const LOG_2PI = Math.log(2 * Math.PI);

/** convnet [3] on 4 x 4 x 1 images (h: 3 features) and a Linear(3, 2) projector: the posterior mean mu is 2-d. */
function tinyEncoder(seed = 5): Network {
  return buildNetwork({
    encoder: { type: 'convnet', channels: [3] },
    projector: { layers: 1, hidden: 3, out: 2, batchNorm: false },
    inputShape: IMAGE,
    seed,
  });
}

function boundCmim(
  network: Network,
  params: Partial<Pick<CmimParams, 'lambda' | 'tau'>> = {},
  options: Parameters<typeof createCmim>[1] = {},
  seed = 11,
): CmimModule {
  const loss = createCmim({ ...PARAMS, ...params }, options);
  loss.bind!({ network, totalSteps: 100, stepsPerEpoch: 10, numClasses: 2, seed, imageShape: IMAGE });
  return loss;
}

function randomImages(seed: number, n: number): tf.Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(
    Float32Array.from({ length: n * 16 }, () => rng.normal()),
    [n, ...IMAGE],
  );
}

// ---- the papers' equations in plain numbers ----

/** log N(v; m, exp(logvar)) summed over the entries. */
function logNormal(v: number[], m: number[], logvar: number[]): number {
  return v.reduce(
    (s, x, d) => s - 0.5 * LOG_2PI - 0.5 * logvar[d] - (x - m[d]) ** 2 / (2 * Math.exp(logvar[d])),
    0,
  );
}

/**
 * A-MIM (MIM paper, asymmetric; the A-MIM loss of SentenceMIM / MolMIM): z = mu + sigma eps,
 * L = -(1/N) sum_i [ log p(x_i | z_i) + 1/2 (log q(z_i | x_i) + log P(z_i)) ] with p(x | z) = N(x^, I), P = N(0, I).
 */
function amimReference(x: Matrix, xhat: Matrix, mu: Matrix, logvar: Matrix, eps: Matrix): number {
  const terms = x.map((xi, i) => {
    const z = mu[i].map((m, d) => m + Math.exp(logvar[i][d] / 2) * eps[i][d]);
    const logPx = logNormal(
      xi,
      xhat[i],
      xi.map(() => 0),
    );
    const logQ = logNormal(z, mu[i], logvar[i]);
    const logP = logNormal(
      z,
      z.map(() => 0),
      z.map(() => 0),
    );
    return logPx + 0.5 * (logQ + logP);
  });
  return -mean(terms);
}

/** InfoNCE of each posterior sample z_i against the means mu_j: -log softmax_j(cos(z_i, mu_j) / tau)[i]. */
function contrastiveReference(z: Matrix, mu: Matrix, tau: number): number {
  return mean(z.map((zi, i) => logSumExp(mu.map((mj) => cosine(zi, mj) / tau)) - cosine(zi, mu[i]) / tau));
}

describe('cmim', () => {
  it('amimLoss matches the A-MIM equations in value and in gradients for x^, mu and logvar', () => {
    const [N, P, D] = [3, 16, 2];
    const [x, xhat] = randomViews(1, 2, N, P);
    const [mu, logvar, eps] = randomViews(2, 3, N, D);
    const xT = tf.tensor4d(x.flat(), [N, ...IMAGE]);
    const epsT = tf.tensor2d(eps);
    const f = (xh: tf.Tensor, m: tf.Tensor, lv: tf.Tensor) => {
      const z = tf.add(m, tf.mul(tf.exp(tf.mul(lv, 0.5)), epsT)) as tf.Tensor2D;
      return amimLoss(xT, tf.reshape(xh, [N, ...IMAGE]) as tf.Tensor4D, z, lv as tf.Tensor2D, epsT);
    };
    const inputs = [xhat, mu, logvar].map((m) => tf.tensor2d(m));
    const { value, grads } = tf.valueAndGrads(f)(inputs);
    const reference = ([a, b, c]: Matrix[]) => amimReference(x, a, b, c, eps);
    expectClose(value.dataSync()[0], reference([xhat, mu, logvar]), 1e-5);
    expectGradsMatch(
      grads.map((g) => g.arraySync() as Matrix),
      numericalGrad(reference, [xhat, mu, logvar]),
    );
    tf.dispose([xT, epsT, value, ...grads, ...inputs]);
  });

  it('posteriorContrastive matches its loop reference in value and gradients, with its closed form', () => {
    const [z, mu] = randomViews(3, 2, 5, 3);
    const tensors = [z, mu].map((m) => tf.tensor2d(m));
    const { value, grads } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) =>
      posteriorContrastive(a as tf.Tensor2D, b as tf.Tensor2D, 0.3),
    )(tensors);
    const reference = ([a, b]: Matrix[]) => contrastiveReference(a, b, 0.3);
    expectClose(value.dataSync()[0], reference([z, mu]), 1e-5);
    expectGradsMatch(
      grads.map((g) => g.arraySync() as Matrix),
      numericalGrad(reference, [z, mu]),
    );
    tf.dispose([value, ...grads, ...tensors]);
    // z_i = mu_i orthogonal: logits 1/tau on the diagonal, 0 elsewhere: log(e^(1/tau) + N - 1) - 1/tau
    const eye = tf.tensor2d([
      [2, 0, 0],
      [0, 3, 0],
      [0, 0, 0.5],
    ]);
    const closed = posteriorContrastive(eye, eye, 0.5);
    expectClose(closed.dataSync()[0], Math.log(Math.exp(2) + 2) - 2, 1e-6);
    tf.dispose([eye, closed]);
  });

  it('computes A-MIM of the decoder’s reconstruction plus lambda times the contrastive term, on its own noise', () => {
    const network = tinyEncoder();
    const N = 4;
    const epsRows = randomViews(4, 1, N, 2)[0];
    const loss = boundCmim(network, {}, { noise: () => tf.tensor2d(epsRows) });
    const images = randomImages(5, N);
    const { h, z: muT } = network.forward(images, true);
    const [hRows, mu] = [h.arraySync() as Matrix, muT.arraySync() as Matrix];
    const value = loss.compute({ views: [muT], features: [h], images: [images] });
    // the log-variance head: Linear(3, 2) of h, clipped to [-6, 2]
    const [kernel, bias] = loss.parts!.logvarHead.getWeights().map((w) => w.arraySync()) as [
      Matrix,
      number[],
    ];
    const logvar = hRows.map((row) =>
      bias.map((b, d) =>
        Math.min(
          Math.max(
            row.reduce((s, v, k) => s + v * kernel[k][d], b),
            LOGVAR_RANGE[0],
          ),
          LOGVAR_RANGE[1],
        ),
      ),
    );
    const zRows = mu.map((m, i) => m.map((v, d) => v + Math.exp(logvar[i][d] / 2) * epsRows[i][d]));
    const [xhat] = loss.parts!.decoder.model.apply(tf.tensor2d(zRows), { training: true }) as tf.Tensor[];
    const xRows = images.reshape([N, 16]).arraySync() as Matrix;
    const xhatRows = xhat.reshape([N, 16]).arraySync() as Matrix;
    const expected =
      amimReference(xRows, xhatRows, mu, logvar, epsRows) + 2 * contrastiveReference(zRows, mu, 0.5);
    expectClose(value.dataSync()[0], expected, 1e-4);
    // lambda = 0: A-MIM alone
    const plain = boundCmim(network, { lambda: 0 }, { noise: () => tf.tensor2d(epsRows) });
    plain.parts!.decoder.model.setWeights(loss.parts!.decoder.model.getWeights());
    plain.parts!.logvarHead.setWeights(loss.parts!.logvarHead.getWeights());
    const mimOnly = plain.compute({ views: [muT], features: [h], images: [images] });
    expectClose(mimOnly.dataSync()[0], amimReference(xRows, xhatRows, mu, logvar, epsRows), 1e-4);
    tf.dispose([h, muT, value, xhat, mimOnly, images]);
    loss.dispose();
    plain.dispose();
    network.dispose();
  });

  it('its informative embedding is the decoder’s pooled hidden states when decoding the posterior mean', () => {
    const network = tinyEncoder();
    const loss = boundCmim(network);
    const images = randomImages(6, 3);
    const embedded = network.forward(images, false);
    const informative = loss.representation!(images, embedded);
    const [, expected] = loss.parts!.decoder.model.apply(embedded.z, { training: false }) as tf.Tensor[];
    expect(informative.shape).toEqual([3, 4 * PARAMS.decoderWidth]);
    expect(informative.arraySync()).toEqual(expected.arraySync());
    tf.dispose([embedded.h, embedded.z, informative, expected, images]);
    loss.dispose();
    network.dispose();
  });

  it('draws its noise from the seed and a draw count that the state restores; it trains without leaks', () => {
    const network = tinyEncoder();
    const images = randomImages(7, 4);
    const value = (loss: CmimModule) => {
      const { h, z } = network.forward(images, true);
      const v = loss.compute({ views: [z], features: [h], images: [images] });
      const out = v.dataSync()[0];
      tf.dispose([h, z, v]);
      return out;
    };
    const a = boundCmim(network, {}, {}, 3);
    const b = boundCmim(network, {}, {}, 3);
    b.parts!.decoder.model.setWeights(a.parts!.decoder.model.getWeights());
    b.parts!.logvarHead.setWeights(a.parts!.logvarHead.getWeights());
    const first = [value(a), value(a)];
    // a second draw differs from the first (fresh noise each step)
    expect(first[0]).not.toBe(first[1]);
    expect(value(b)).toBe(first[0]);
    // b restores a's state after two draws: its next value is a's third
    const saved = a.getState!();
    expect(stateArrays(a).draws).toBe(2);
    b.setState!(saved);
    tf.dispose(Object.values(saved));
    expect(value(b)).toBe(value(a));
    const state = b.getState!();
    const wrong = { ...state, 'decoder.0': tf.zeros([1]) };
    expect(() => b.setState!(wrong)).toThrow(/decoder\.0 has shape \[1\], expected \[2, 4\]/);
    tf.dispose([...Object.values(state), wrong['decoder.0']]);

    const optimizer = tf.train.adam(0.01);
    const variables = [...network.trainableVariables, ...a.trainableVariables];
    const values: number[] = [];
    let baseline = -1;
    for (let step = 0; step < 60; step++) {
      const cost = optimizer.minimize(
        () => {
          const { h, z } = network.forward(images, true);
          return a.compute({ views: [z], features: [h], images: [images] });
        },
        true,
        variables,
      );
      values.push(cost!.dataSync()[0]);
      cost!.dispose();
      if (step === 1) baseline = tf.memory().numTensors;
    }
    expect(tf.memory().numTensors).toBe(baseline);
    expect(values.every(Number.isFinite)).toBe(true);
    expect(mean(values.slice(-5))).toBeLessThan(mean(values.slice(0, 5)));
    optimizer.dispose();
    images.dispose();
    a.dispose();
    b.dispose();
    network.dispose();
  });

  it('stays finite on zero and identical inputs and rejects bad use with clear errors', () => {
    const network = tinyEncoder();
    const loss = boundCmim(network);
    const zeros = tf.zeros([3, ...IMAGE]) as tf.Tensor4D;
    const { h, z } = network.forward(zeros, true);
    const { value, grads } = tf.valueAndGrads((m: tf.Tensor, f: tf.Tensor) =>
      loss.compute({ views: [m as tf.Tensor2D], features: [f as tf.Tensor2D], images: [zeros] }),
    )([z, h]);
    expectAllFinite(
      value.dataSync()[0],
      grads.map((g) => g.arraySync() as Matrix),
    );
    tf.dispose([value, ...grads]);
    expect(() => loss.compute({ views: [z, z], features: [h], images: [zeros] })).toThrow(/exactly 1 views/);
    expect(() => loss.compute({ views: [z], images: [zeros] })).toThrow(/pass inputs\.features/);
    expect(() => loss.compute({ views: [z], features: [h] })).toThrow(/pass inputs\.images/);
    const small = tf.zeros([3, 2, 2, 1]) as tf.Tensor4D;
    expect(() => loss.compute({ views: [z], features: [h], images: [small] })).toThrow(/bound for \[4,4,1\]/);
    const unbound = createCmim(PARAMS);
    expect(unbound.trainableVariables).toEqual([]);
    expect(() => unbound.compute({ views: [z], features: [h], images: [zeros] })).toThrow(/before bind\(\)/);
    expect(() => unbound.bind!({ network, totalSteps: 1, stepsPerEpoch: 1, numClasses: 2, seed: 1 })).toThrow(
      /imageShape/,
    );
    expect(() => createLoss('cmim', { tau: 0 })).toThrow(/tau must be in \[0\.01, 10\], got 0/);
    expect(() => createLoss('cmim', { decoderWidth: 2.5 })).toThrow(/decoderWidth must be an integer/);
    tf.dispose([zeros, small, h, z]);
    loss.dispose();
    network.dispose();
  });
});
