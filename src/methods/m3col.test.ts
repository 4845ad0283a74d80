import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { m3coLoss, mixRows, softClipLoss } from '../losses/m3co';
import { trainCheckingLeaks } from '../losses/testing';
import type { Network } from '../nn/types';
import { sobelEdges } from './edges';
import { createM3col, drawMix, type M3colParams } from './m3col';
import { randomImages, tinyNetwork } from './testing';

const params = (overrides: Partial<M3colParams> = {}): M3colParams => ({
  tau: 0.2,
  beta: 0.15,
  pMix: 0.5,
  mixupFraction: 0.5,
  mixInput: 0,
  modality: 0,
  separateEncoder: 0,
  ...overrides,
});

function bound(p: M3colParams, network: Network) {
  const loss = createM3col(p);
  loss.bind({ network, totalSteps: 10, stepsPerEpoch: 5, numClasses: 2, seed: 4 });
  return loss;
}

const scalar = (t: tf.Scalar): number => {
  const value = t.dataSync()[0];
  t.dispose();
  return value;
};

describe('m3col', () => {
  it('draws a permutation, mixes about pMix of the rows, with lambda ~ Beta(beta, beta)', () => {
    const p = params({ beta: 2, pMix: 0.3 });
    let mixed = 0;
    let sum = 0;
    let rows = 0;
    for (let step = 0; step < 200; step++) {
      const { lambdas, perm } = drawMix(9, step, 0, 50, p);
      expect([...perm].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      for (const lambda of lambdas) {
        rows += 1;
        if (lambda !== 1) {
          mixed += 1;
          sum += lambda;
        }
      }
    }
    expect(mixed / rows).toBeCloseTo(0.3, 1);
    expect(sum / mixed).toBeCloseTo(0.5, 1); // Beta(2, 2) has mean 1/2
    const again = drawMix(9, 7, 0, 50, p);
    expect(Array.from(again.lambdas)).toEqual(Array.from(drawMix(9, 7, 0, 50, p).lambdas));
    expect(Array.from(again.perm)).not.toEqual(Array.from(drawMix(9, 7, 1, 50, p).perm));
  });

  it('sobelEdges: the gradient magnitude of a vertical step, repeated over the channels', () => {
    // columns 0, 0, 1, 1 in every channel: a unit step between columns 1 and 2
    const image = tf.tensor4d(
      Array.from({ length: 16 }, (_, k) => (k % 4 >= 2 ? [1, 1, 1] : [0, 0, 0])).flat(),
      [1, 4, 4, 3],
    );
    const edges = sobelEdges(image);
    expect(edges.shape).toEqual([1, 4, 4, 3]);
    const values = edges.arraySync()[0];
    for (const row of [1, 2]) {
      expect(values[row][0][0]).toBeCloseTo(0, 5);
      expect(values[row][1][0]).toBeCloseTo(1, 5); // (0 - 0 + 1) * (1 + 2 + 1) / 4
      expect(values[row][2][1]).toBeCloseTo(1, 5);
      expect(values[row][1][2]).toBeCloseTo(values[row][1][0], 6);
    }
    tf.dispose([image, edges]);
  });

  it('phase 1 is M3Co on both modalities with the step’s draws, phase 2 the soft CLIP loss', () => {
    const network = tinyNetwork(3, 4);
    const loss = bound(params(), network);
    const images = randomImages(2, 2, 6);
    const [z1, z2] = images.map((x) => network.forward(x, true).z);
    const value = (step: number) => scalar(loss.compute({ views: [z1, z2], images, step }));
    const expected = (step: number) =>
      tf.tidy(() => {
        const terms = [
          [z1, z2],
          [z2, z1],
        ].map(([mixedSide, other], index) => {
          const draw = drawMix(4, step, index, 6, params());
          const l = tf.tensor1d(draw.lambdas);
          const perm = tf.tensor1d(draw.perm, 'int32');
          return m3coLoss(mixRows(mixedSide, l, perm), other, l, perm, 0.2).dataSync()[0];
        });
        return terms[0] + terms[1];
      });
    expect(value(2)).toBeCloseTo(expected(2), 5);
    expect(loss.stage()).toBe(1);
    const soft = tf.tidy(
      () => softClipLoss(z1, z2, 0.2).dataSync()[0] + softClipLoss(z2, z1, 0.2).dataSync()[0],
    );
    expect(value(5)).toBeCloseTo(soft, 5);
    expect(loss.stage()).toBe(2);
    expect(() => loss.compute({ views: [z1, z2] })).toThrow(
      /runs its target network on the augmented images/,
    );
    tf.dispose([z1, z2, ...images]);
    loss.dispose();
    network.dispose();
  });

  it('with a second encoder on the edge maps: its own variables and state, restored exactly', () => {
    const network = tinyNetwork(3, 4);
    const loss = bound(params({ modality: 1, separateEncoder: 1, mixInput: 1 }), network);
    expect(loss.trainableVariables.length).toBe(network.trainableVariables.length);
    const images = randomImages(5, 2, 4);
    const views = images.map((x) => network.forward(x, true).z);
    const { value, grads } = tf.variableGrads(
      () => loss.compute({ views, images, step: 0 }),
      [...network.trainableVariables, ...loss.trainableVariables],
    );
    // both encoders learn from phase 1
    for (const v of [network.trainableVariables[0], loss.trainableVariables[0]]) {
      expect(Math.max(...Array.from(grads[v.name].dataSync()).map(Math.abs))).toBeGreaterThan(0);
    }
    tf.dispose([value, ...Object.values(grads)]);
    tf.tidy(() => loss.trainableVariables.forEach((v) => v.assign(tf.add(v, 0.25))));
    const state = loss.getState!();
    const other = bound(params({ modality: 1, separateEncoder: 1, mixInput: 1 }), network);
    other.setState!(state);
    const a = loss.secondEncoder!.forward(images[0], false).z;
    const b = other.secondEncoder!.forward(images[0], false).z;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([a, b, ...views, ...images, ...Object.values(state)]);
    loss.dispose();
    other.dispose();
    network.dispose();
  });

  it('trains a network through the mixed inputs without leaking tensors', () => {
    const network = tinyNetwork(6, 4);
    const loss = bound(params({ mixInput: 1, mixupFraction: 1, pMix: 1 }), network);
    const images = randomImages(7, 2, 8);
    let step = 0;
    const { first, last } = trainCheckingLeaks(
      { ...loss, compute: (inputs) => loss.compute({ ...inputs, images, step: step++ % 3 }) },
      network.trainableVariables,
      () => ({ views: images.map((x) => network.forward(x, true).z) }),
      60,
    );
    expect(last).toBeLessThan(first);
    tf.dispose(images);
    loss.dispose();
    network.dispose();
  });
});
