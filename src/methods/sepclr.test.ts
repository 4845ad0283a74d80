import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { resolveLossParams } from '../losses/catalog';
import { sepclrLoss, type SepclrParams } from '../losses/sepclr';
import { trainCheckingLeaks } from '../losses/testing';
import type { Network } from '../nn/types';
import { createSepclr } from './sepclr';
import { randomImages, tinyNetwork } from './testing';

const PARAMS = resolveLossParams('sepclr', { betaSalient: 2, betaReg: 3, lambdaJem: 0.5 }) as SepclrParams;

function bound(seed = 4): { loss: ReturnType<typeof createSepclr>; network: Network } {
  const network = tinyNetwork(seed, 3);
  const loss = createSepclr(PARAMS);
  loss.bind({
    network,
    totalSteps: 10,
    stepsPerEpoch: 5,
    numClasses: 2,
    seed: 9,
    buildNetwork: (s) => tinyNetwork(s, 3),
  });
  return { loss, network };
}

describe('sepclr method', () => {
  it('owns a salient encoder of its own and feeds the objective with its projections and the target flags', () => {
    const { loss, network } = bound();
    const salient = loss.salientNetwork!;
    expect(salient).not.toBe(network);
    expect(loss.trainableVariables).toEqual(salient.trainableVariables);
    const images = randomImages(1, 2, 6);
    const groups = tf.tensor1d([1, 0, 1, 1, 0, 0], 'int32');
    const views = images.map((b) => network.forward(b, true).z);
    const value = tf.tidy(() => loss.compute({ views, images, groups }).dataSync()[0]);
    // the same training-mode forward of the salient encoder on the same images
    const expected = tf.tidy(() => {
      const [s1, s2] = images.map((b) => salient.forward(b, true).z);
      return sepclrLoss({ c1: views[0], c2: views[1], s1, s2, target: groups }, PARAMS).total.dataSync()[0];
    });
    expect(value).toBeCloseTo(expected, 5);
    tf.dispose([...images, ...views, groups]);
    loss.dispose();
    network.dispose();
  });

  it('sends gradient into both encoders and trains without leaking tensors', () => {
    const { loss, network } = bound();
    const images = randomImages(2, 2, 6);
    const groups = tf.tensor1d([1, 0, 1, 0, 1, 0], 'int32');
    const { grads, value } = tf.variableGrads(
      () => loss.compute({ views: images.map((b) => network.forward(b, true).z), images, groups }),
      [...network.trainableVariables, ...loss.trainableVariables],
    );
    const norms = Object.values(grads).map((g) => tf.norm(g).dataSync()[0]);
    expect(norms.length).toBe(network.trainableVariables.length + loss.trainableVariables.length);
    expect(norms.slice(0, network.trainableVariables.length).some((n) => n > 0)).toBe(true);
    expect(norms.slice(network.trainableVariables.length).some((n) => n > 0)).toBe(true);
    tf.dispose([value, ...Object.values(grads)]);
    const { first, last } = trainCheckingLeaks(
      loss,
      network.trainableVariables,
      () => ({ views: images.map((b) => network.forward(b, true).z), images, groups }) as never,
      20,
    );
    expect(last).toBeLessThan(first);
    tf.dispose([...images, groups]);
    loss.dispose();
    network.dispose();
  });

  it('says what is missing: the network builder, the images, the target flags', () => {
    const loss = createSepclr(PARAMS);
    const network = tinyNetwork(1, 3);
    expect(() => loss.bind({ network, totalSteps: 1, stepsPerEpoch: 1, numClasses: 2, seed: 1 })).toThrow(
      /buildNetwork/,
    );
    const { loss: ready, network: common } = bound();
    const images = randomImages(3, 2, 4);
    const views = images.map((b) => common.forward(b, true).z);
    expect(() => ready.compute({ views, images })).toThrow(
      /needs inputs.groups .*protocol.type 'contrastive-analysis'/,
    );
    expect(() => ready.compute({ views })).toThrow(/inputs.images/);
    tf.dispose([...images, ...views]);
    [loss, ready].forEach((l) => l.dispose());
    [network, common].forEach((n) => n.dispose());
  });

  it('round-trips the salient encoder (BatchNorm statistics included) through its state', () => {
    const a = bound(5);
    const b = bound(6);
    const images = randomImages(4, 1, 5);
    tf.tidy(() => a.loss.salientNetwork!.forward(images[0], true)); // moves a's BatchNorm statistics
    const state = a.loss.getState();
    b.loss.setState(state);
    const out = (n: Network) => tf.tidy(() => n.forward(images[0], false).z.arraySync());
    expect(out(b.loss.salientNetwork!)).toEqual(out(a.loss.salientNetwork!));
    tf.dispose([...images, ...Object.values(state)]);
    [a, b].forEach(({ loss, network }) => {
      loss.dispose();
      network.dispose();
    });
  });
});
