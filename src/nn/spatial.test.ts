import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { buildNetwork, type EncoderSpec } from './networks';
import { Rng } from './random';
import { hasSpatialMap, spatialBackbone } from './spatial';

const projector = { layers: 2, hidden: 8, out: 4, batchNorm: true };

function images(seed: number, n: number, size: number, channels: number): tf.Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(
    Array.from({ length: n * size * size * channels }, () => rng.next()),
    [n, size, size, channels],
  );
}

const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

describe('the spatial map of the backbone', () => {
  const cases: [string, EncoderSpec, number[]][] = [
    ['convnet', { type: 'convnet', channels: [4, 6] }, [3, 2, 2, 6]], // 8 -> 4 -> 2
    ['resnet', { type: 'resnet', widths: [4, 6], blocks: [1, 1] }, [3, 4, 4, 6]], // stride 1 then 2
  ];
  for (const [name, encoder, shape] of cases) {
    it(`${name}: the map before pooling, whose mean over positions is h, with the same h and z as forward`, () => {
      const net = buildNetwork({ encoder, projector, inputShape: [8, 8, 3], seed: 2 });
      const x = images(1, 3, 8, 3);
      for (const training of [false, true]) {
        const spatial = net.forwardSpatial(x, training);
        const plain = net.forward(x, training);
        expect(spatial.map.shape).toEqual(shape);
        const pooled = tf.mean(spatial.map, [1, 2]);
        expect(maxAbs(pooled, plain.h)).toBeLessThan(1e-5);
        expect(maxAbs(spatial.h, plain.h)).toBe(0);
        expect(maxAbs(spatial.z, plain.z)).toBe(0);
        tf.dispose([spatial.map, spatial.h, spatial.z, plain.h, plain.z, pooled]);
      }
      x.dispose();
      net.dispose();
    });
  }

  it('shares the weights: gradients of the map reach the backbone, a clone has its own, disposing leaves no tensors', () => {
    const before = tf.memory().numTensors;
    const net = buildNetwork({ encoder: cases[0][1], projector, inputShape: [8, 8, 3], seed: 2 });
    const x = images(3, 2, 8, 3);
    const backboneVariables = net.backbone.trainableWeights.map((w) => w.read() as tf.Variable);
    const { grads, value } = tf.variableGrads(() => {
      const { map, h, z } = net.forwardSpatial(x, true);
      tf.dispose([h, z]);
      return tf.sum(tf.square(map)) as tf.Scalar;
    }, backboneVariables);
    expect(Object.keys(grads)).toHaveLength(backboneVariables.length);
    for (const g of Object.values(grads))
      expect(tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0])).toBeGreaterThan(0);
    tf.dispose([value, ...Object.values(grads)]);
    const copy = net.clone();
    const a = net.forwardSpatial(x, false);
    const b = copy.forwardSpatial(x, false);
    expect(maxAbs(a.map, b.map)).toBe(0);
    tf.dispose([a.map, a.h, a.z, b.map, b.h, b.z]);
    // moving the copy's weights leaves the original's map alone
    tf.tidy(() => copy.trainableVariables.forEach((v) => v.assign(tf.add(v, 0.5))));
    const c = net.forwardSpatial(x, false);
    const d = copy.forwardSpatial(x, false);
    expect(maxAbs(c.map, d.map)).toBeGreaterThan(1e-3);
    tf.dispose([c.map, c.h, c.z, d.map, d.h, d.z, x]);
    copy.dispose();
    net.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses an encoder without a spatial map (mlp) with a clear error', () => {
    const net = buildNetwork({
      encoder: { type: 'mlp', hidden: [8] },
      projector,
      inputShape: [4, 4, 1],
      seed: 1,
    });
    expect(hasSpatialMap(net.backbone)).toBe(false);
    expect(() => spatialBackbone(net.backbone)).toThrow(/no spatial map .*convnet or resnet/);
    const x = images(1, 2, 4, 1);
    expect(() => net.forwardSpatial(x, false)).toThrow(/pixel-level objectives need a convnet or resnet/);
    x.dispose();
    net.dispose();
  });
});
