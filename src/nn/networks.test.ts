import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Rng } from './random';
import type { Network } from './types';
import {
  buildBackbone,
  buildNetwork,
  describeNetwork,
  encoderAcceptsAnyImageSize,
  ENCODER_PRESETS,
  type EncoderSpec,
  type ProjectorSpec,
} from './networks';
import { trainableCount } from './heads';

const smallProjector: ProjectorSpec = { layers: 2, hidden: 32, out: 16, batchNorm: true };

function randomImages(seed: number, n: number, h: number, w: number, c: number): tf.Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(
    Array.from({ length: n * h * w * c }, () => rng.next()),
    [n, h, w, c],
  );
}

function weightsAsArrays(net: Network): number[][] {
  return net.allWeights.map((w) => Array.from(w.read().dataSync()));
}

function forwardArrays(
  net: Network,
  images: tf.Tensor4D,
  training: boolean,
): { h: number[][]; z: number[][] } {
  const { h, z } = net.forward(images, training);
  const out = { h: h.arraySync(), z: z.arraySync() };
  h.dispose();
  z.dispose();
  return out;
}

function maxAbsDiff(a: number[][], b: number[][]): number {
  let worst = 0;
  a.forEach((row, i) => row.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - b[i][j])))));
  return worst;
}

describe('encoder output shapes', () => {
  it('mlp: flatten -> hidden widths, features = last width', () => {
    const net = buildNetwork({
      encoder: { type: 'mlp', hidden: [16, 8] },
      projector: smallProjector,
      inputShape: [6, 5, 3],
      seed: 1,
    });
    const x = randomImages(1, 4, 6, 5, 3);
    const { h, z } = net.forward(x, false);
    expect(h.shape).toEqual([4, 8]);
    expect(z.shape).toEqual([4, 16]);
    expect(net.featureDim).toBe(8);
    expect(net.embeddingDim).toBe(16);
    tf.dispose([x, h, z]);
    net.dispose();
  });

  it('convnet and resnet accept any height and width (multi-crop small views)', () => {
    const specs: [EncoderSpec, number][] = [
      [{ type: 'convnet', channels: [4, 8] }, 8],
      [ENCODER_PRESETS['resnet-tiny'], 16],
    ];
    for (const [encoder, featureDim] of specs) {
      const net = buildNetwork({ encoder, projector: smallProjector, inputShape: [16, 16, 3], seed: 2 });
      for (const [hgt, wid] of [
        [16, 16],
        [7, 5],
        [1, 1],
      ]) {
        const x = randomImages(2, 2, hgt, wid, 3);
        const { h, z } = net.forward(x, true);
        expect(h.shape).toEqual([2, featureDim]);
        expect(z.shape).toEqual([2, 16]);
        expect(Array.from(z.dataSync()).every(Number.isFinite)).toBe(true);
        tf.dispose([x, h, z]);
      }
      net.dispose();
    }
  });

  it('grayscale (1-channel) input', () => {
    const net = buildNetwork({
      encoder: ENCODER_PRESETS['resnet-tiny'],
      projector: smallProjector,
      inputShape: [8, 8, 1],
      seed: 3,
    });
    const x = randomImages(3, 2, 8, 8, 1);
    const { h } = forwardArrays(net, x, false);
    expect(h.length).toBe(2);
    expect(h[0].length).toBe(16);
    // stem conv 3*3*1*8 = 72 instead of 216 for RGB: 5096 - 216 + 72 = 4952
    expect(net.parameterCount().backbone).toBe(4952);
    x.dispose();
    net.dispose();
  });

  it('mlp needs its build shape; buildNetwork says so for an open shape', () => {
    expect(encoderAcceptsAnyImageSize({ type: 'mlp', hidden: [4] })).toBe(false);
    expect(encoderAcceptsAnyImageSize(ENCODER_PRESETS['resnet-tiny'])).toBe(true);
    expect(() =>
      buildNetwork({
        encoder: { type: 'mlp', hidden: [4] },
        projector: smallProjector,
        inputShape: [0, 0, 3],
        seed: 1,
      }),
    ).toThrow(/fixed inputShape/);
    const net = buildNetwork({
      encoder: { type: 'mlp', hidden: [4] },
      projector: smallProjector,
      inputShape: [4, 4, 3],
      seed: 1,
    });
    const wrongSize = randomImages(1, 2, 5, 5, 3);
    expect(() => net.forward(wrongSize, false)).toThrow();
    wrongSize.dispose();
    net.dispose();
  });

  it('rejects malformed specs with a message naming the field', () => {
    expect(() => buildBackbone({ type: 'resnet', widths: [8, 16], blocks: [1] }, [8, 8, 3], 0)).toThrow(
      /blocks/,
    );
    expect(() => buildBackbone({ type: 'convnet', channels: [] }, [8, 8, 3], 0)).toThrow(/channels/);
    expect(() => buildBackbone({ type: 'mlp', hidden: [3.5] }, [8, 8, 3], 0)).toThrow(/hidden/);
  });
});

describe('parameter counts (hand-computed: conv k*k*cin*cout, no conv bias, BN gamma+beta = 2*c)', () => {
  it('ResNet-18 CIFAR (3x3 stem) has 11,168,832 backbone parameters', () => {
    const backbone = buildBackbone(ENCODER_PRESETS['resnet18'], [32, 32, 3], 0);
    // torchvision resnet18 without fc: 11,176,512; 7x7 stem 9,408 -> 3x3 stem 1,728.
    expect(trainableCount(backbone)).toBe(11_168_832);
    expect(backbone.outputs[0].shape).toEqual([null, 512]);
    backbone.dispose();
  });

  it('resnet-small, resnet-tiny, convnet and mlp presets', () => {
    const count = (spec: EncoderSpec) => {
      const backbone = buildBackbone(spec, [32, 32, 3], 0);
      const n = trainableCount(backbone);
      backbone.dispose();
      return n;
    };
    // resnet-tiny: stem 27*8+16 = 232; block 8->8: 576+16+576+16 = 1184;
    // block 8->16 s2: 1152+32 + 2304+32 + shortcut 128+32 = 3680. Sum 5096.
    expect(count(ENCODER_PRESETS['resnet-tiny'])).toBe(5096);
    // resnet-small: stem 864+64 = 928; 32->32: 2*(9216+64) = 18560;
    // 32->64: 18432+128 + 36864+128 + 2048+128 = 57728; 64->128: 73728+256 + 147456+256 + 8192+256 = 230144.
    expect(count(ENCODER_PRESETS['resnet-small'])).toBe(928 + 18560 + 57728 + 230144);
    // convnet [32, 64, 128]: 864+64 + 18432+128 + 73728+256
    expect(count(ENCODER_PRESETS['convnet'])).toBe(93472);
    // mlp [512, 256] on 32*32*3 = 3072 inputs: 3072*512 + 1024 + 512*256 + 512
    expect(count(ENCODER_PRESETS['mlp'])).toBe(1_705_472);
  });

  it('network counts = backbone + projector, and describeNetwork prints them', () => {
    const net = buildNetwork({
      encoder: ENCODER_PRESETS['resnet-tiny'],
      projector: smallProjector,
      inputShape: [8, 8, 3],
      seed: 0,
    });
    // projector 16 -> 32 (no bias, BN 64) -> 16 (+ bias): 512 + 64 + 512 + 16 = 1104
    expect(net.parameterCount()).toEqual({ backbone: 5096, projector: 1104, total: 6200 });
    expect(describeNetwork(net)).toBe(
      'backbone 5,096 params -> 16 features, projector 1,104 params -> 16 dims, total 6,200',
    );
    net.dispose();
  });
});

describe('no projector (layers 0)', () => {
  it('z is h: the same values and width, no projector parameters, and clone and export still work', async () => {
    const net = buildNetwork({
      encoder: ENCODER_PRESETS['resnet-tiny'],
      projector: { layers: 0, hidden: 32, out: 8, batchNorm: true },
      inputShape: [8, 8, 3],
      seed: 4,
    });
    expect(net.embeddingDim).toBe(net.featureDim);
    expect(net.parameterCount()).toEqual({ backbone: 5096, projector: 0, total: 5096 });
    expect(net.projector.weights).toEqual([]);
    const x = randomImages(4, 3, 8, 8, 3);
    for (const training of [true, false]) {
      const { h, z } = forwardArrays(net, x, training);
      expect(maxAbsDiff(h, z)).toBe(0);
    }
    const copy = net.clone();
    expect(maxAbsDiff(forwardArrays(copy, x, false).z, forwardArrays(net, x, false).h)).toBe(0);
    let saved: tf.io.ModelArtifacts | null = null;
    await net.projector.save(
      tf.io.withSaveHandler(async (artifacts) => {
        saved = artifacts;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved as unknown as tf.io.ModelArtifacts));
    const rows = Array.from({ length: 2 }, (_, i) => Array.from({ length: 16 }, (_, d) => i - d / 4));
    const features = tf.tensor2d(rows);
    const passed = loaded.predict(features) as tf.Tensor;
    expect(maxAbsDiff(passed.arraySync() as number[][], rows)).toBe(0);
    passed.dispose();
    tf.dispose([x, features]);
    [net, copy, loaded].forEach((m) => m.dispose());
  });
});

describe('determinism, names and cloning', () => {
  const encoder = ENCODER_PRESETS['resnet-tiny'];

  it('same seed -> identical weights and weight names; different seed -> different weights', () => {
    const a = buildNetwork({ encoder, projector: smallProjector, inputShape: [8, 8, 3], seed: 7 });
    const b = buildNetwork({ encoder, projector: smallProjector, inputShape: [8, 8, 3], seed: 7 });
    const c = buildNetwork({ encoder, projector: smallProjector, inputShape: [8, 8, 3], seed: 8 });
    expect(weightsAsArrays(a)).toEqual(weightsAsArrays(b));
    expect(a.allWeights.map((w) => w.originalName)).toEqual(b.allWeights.map((w) => w.originalName));
    const wa = weightsAsArrays(a);
    const wc = weightsAsArrays(c);
    const kernelIndex = a.allWeights.findIndex((w) => w.originalName === 'bb_stem_conv/kernel');
    expect(kernelIndex).toBeGreaterThanOrEqual(0);
    expect(wa[kernelIndex]).not.toEqual(wc[kernelIndex]);
    const projKernel = a.allWeights.findIndex((w) => w.originalName === 'proj_fc0/kernel');
    expect(wa[projKernel]).not.toEqual(wc[projKernel]);
    // every backbone layer carries the bb_ prefix so exported weight names are recognisable
    expect(a.backbone.layers.every((layer) => layer.name.startsWith('bb_'))).toBe(true);
    [a, b, c].forEach((n) => n.dispose());
  });

  it('seed 0 is deterministic too, for every encoder type (TF.js reads a seed of 0 as "unseeded")', () => {
    const encoders: EncoderSpec[] = [
      { type: 'mlp', hidden: [8] },
      { type: 'convnet', channels: [4] },
      encoder,
    ];
    for (const enc of encoders) {
      const a = buildNetwork({ encoder: enc, projector: smallProjector, inputShape: [8, 8, 3], seed: 0 });
      const b = buildNetwork({ encoder: enc, projector: smallProjector, inputShape: [8, 8, 3], seed: 0 });
      expect(weightsAsArrays(a), enc.type).toEqual(weightsAsArrays(b));
      [a, b].forEach((n) => n.dispose());
    }
  });

  it('distinct convs get distinct seeds (no two kernels of the same shape are equal)', () => {
    const backbone = buildBackbone({ type: 'resnet', widths: [8], blocks: [2] }, [8, 8, 3], 3);
    const kernels = backbone.weights.filter((w) => w.originalName.endsWith('/kernel') && w.shape[2] === 8);
    expect(kernels.length).toBe(4);
    const values = kernels.map((k) => Array.from(k.read().dataSync()));
    for (let i = 0; i < values.length; i++)
      for (let j = i + 1; j < values.length; j++) expect(values[i]).not.toEqual(values[j]);
    backbone.dispose();
  });

  it('clone() gives equal outputs and independent weights', () => {
    const net = buildNetwork({ encoder, projector: smallProjector, inputShape: [8, 8, 3], seed: 5 });
    const x = randomImages(5, 4, 8, 8, 3);
    // one training forward moves the BN statistics away from their initial values, so the clone must copy them
    tf.dispose(Object.values(net.forward(x, true)));
    const copy = net.clone();
    const original = forwardArrays(net, x, false);
    const cloned = forwardArrays(copy, x, false);
    expect(maxAbsDiff(original.z, cloned.z)).toBe(0);
    expect(maxAbsDiff(original.h, cloned.h)).toBe(0);
    // changing the original must not touch the copy
    net.trainableVariables.forEach((v) => v.assign(tf.zerosLike(v)));
    const after = forwardArrays(copy, x, false);
    expect(maxAbsDiff(after.z, cloned.z)).toBe(0);
    x.dispose();
    net.dispose();
    copy.dispose();
  });

  it('exports load back with tf.loadLayersModel and give the same features', async () => {
    const net = buildNetwork({ encoder, projector: smallProjector, inputShape: [8, 8, 3], seed: 9 });
    let saved: tf.io.ModelArtifacts | null = null;
    await net.backbone.save(
      tf.io.withSaveHandler(async (artifacts) => {
        saved = artifacts;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved as unknown as tf.io.ModelArtifacts));
    const x = randomImages(9, 2, 10, 6, 3);
    const want = net.backbone.predict(x) as tf.Tensor;
    const got = loaded.predict(x) as tf.Tensor;
    expect(maxAbsDiff(want.arraySync() as number[][], got.arraySync() as number[][])).toBeLessThan(1e-6);
    tf.dispose([x, want, got]);
    loaded.dispose();
    net.dispose();
  });
});

describe('training behaviour', () => {
  it('BN moving statistics change in training mode only', () => {
    const net = buildNetwork({
      encoder: ENCODER_PRESETS['resnet-tiny'],
      projector: smallProjector,
      inputShape: [8, 8, 3],
      seed: 4,
    });
    const x = randomImages(4, 4, 8, 8, 3);
    const movingStats = () =>
      net.allWeights
        .filter((w) => /moving_(mean|variance)/.test(w.originalName))
        .map((w) => Array.from(w.read().dataSync()));
    const before = movingStats();
    expect(before.length).toBeGreaterThan(0);
    tf.dispose(Object.values(net.forward(x, false)));
    expect(movingStats()).toEqual(before);
    tf.dispose(Object.values(net.forward(x, true)));
    const after = movingStats();
    // every BN layer (backbone and projector) saw a batch whose statistics differ from (0, 1)
    after.forEach((stat, i) => expect(stat).not.toEqual(before[i]));
    x.dispose();
    net.dispose();
  });

  it('a few SGD steps reduce a toy regression loss without growing the tensor count', () => {
    for (const encoder of [
      ENCODER_PRESETS['resnet-tiny'],
      { type: 'convnet', channels: [4, 8] } as EncoderSpec,
      { type: 'mlp', hidden: [16] } as EncoderSpec,
    ]) {
      const net = buildNetwork({
        encoder,
        projector: { layers: 2, hidden: 16, out: 4, batchNorm: true },
        inputShape: [8, 8, 3],
        seed: 11,
      });
      const x = randomImages(11, 8, 8, 8, 3);
      const target = tf.tensor2d(
        Array.from({ length: 32 }, (_, i) => Math.sin(i)),
        [8, 4],
      );
      const optimizer = tf.train.sgd(0.05);
      const step = () => {
        const loss = optimizer.minimize(
          () => {
            const { h, z } = net.forward(x, true);
            h.dispose();
            return tf.losses.meanSquaredError(target, z) as tf.Scalar;
          },
          true,
          net.trainableVariables,
        ) as tf.Scalar;
        const value = loss.dataSync()[0];
        loss.dispose();
        return value;
      };
      const first = step();
      const tensorsAfterFirst = tf.memory().numTensors;
      let last = first;
      for (let i = 0; i < 15; i++) last = step();
      expect(tf.memory().numTensors).toBe(tensorsAfterFirst);
      expect(last).toBeLessThan(0.7 * first);
      tf.dispose([x, target]);
      optimizer.dispose();
      net.dispose();
    }
  });
});
