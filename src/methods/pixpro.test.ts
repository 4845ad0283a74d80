import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { buildNetwork } from '../nn/networks';
import type { ViewGeometry } from '../nn/pixel_pairs';
import { Rng } from '../nn/random';
import type { Network } from '../nn/types';
import {
  cosine,
  expectAllFinite,
  expectClose,
  mean,
  numericalGrad,
  randomViews,
  type Matrix,
} from '../losses/testing';
import { byolTargetDecay } from './byol';
import { createPixpro, pixelPropagation, pixproPixelLoss, type PixproParams } from './pixpro';
import { createLoss } from './registry';
import { expectGradsMatchScaled, plainPredictor, setVariable, stateArrays } from './testing';
import type { MethodModule } from './types';

const IMAGE: [number, number, number] = [4, 4, 2];
const PARAMS: PixproParams = {
  T: 0.7,
  gamma: 2,
  ppmLayers: 1,
  baseMomentum: 0.99,
  pixHidden: 5,
  pixDim: 3,
  alpha: 0,
  predHidden: 4,
};

/** convnet [3] on 4 x 4 x 2 images: a 2 x 2 x 3 map before pooling (F = 3, P = 4), a Linear(3, 3) projector. */
function tinyConvNetwork(seed = 5): Network {
  return buildNetwork({
    encoder: { type: 'convnet', channels: [3] },
    projector: { layers: 1, hidden: 3, out: 3, batchNorm: false },
    inputShape: IMAGE,
    seed,
  });
}

type Overrides = { [K in 'T' | 'gamma' | 'ppmLayers' | 'baseMomentum' | 'alpha']?: number };

function boundPixpro(network: Network, params: Overrides = {}, seed = 11): MethodModule {
  const loss = createPixpro({ ...PARAMS, ...params } as PixproParams);
  loss.bind!({ network, totalSteps: 100, stepsPerEpoch: 10, numClasses: 2, seed });
  return loss;
}

function randomImages(seed: number, n: number): tf.Tensor4D[] {
  const rng = new Rng(seed);
  const size = n * IMAGE[0] * IMAGE[1] * IMAGE[2];
  return [0, 1].map(() =>
    tf.tensor4d(
      Float32Array.from({ length: size }, () => rng.next()),
      [n, ...IMAGE],
    ),
  );
}

/** Crop boxes inside a 16 x 16 source: overlapping, flipped and disjoint ones, so pair counts differ by image. */
const GEOMETRY: ViewGeometry[][] = [
  [
    { top: 0, left: 0, height: 16, width: 16, flip: false },
    { top: 2, left: 4, height: 8, width: 10, flip: false },
    { top: 0, left: 0, height: 6, width: 6, flip: false },
  ],
  [
    { top: 4, left: 4, height: 12, width: 12, flip: true },
    { top: 3, left: 2, height: 9, width: 9, flip: false },
    { top: 10, left: 10, height: 6, width: 6, flip: true },
  ],
];

// ---- the paper's equations in plain numbers ----

/** Cell centres of an h x w map of a view, in source pixels (the view samples its box; flips mirror columns). */
function centre(g: ViewGeometry, r: number, c: number, h: number, w: number): [number, number] {
  const cellW = g.width / w;
  const cellH = g.height / h;
  const x = g.flip ? g.left + g.width - (c + 0.5) * cellW : g.left + (c + 0.5) * cellW;
  return [x, g.top + (r + 0.5) * cellH];
}

/** Eq. 1: A(i, j) = 1 when dist(i, j) / max(cell diagonal of view 1, of view 2) <= T. */
function positivePairs(
  a: ViewGeometry,
  b: ViewGeometry,
  h: number,
  w: number,
  T: number,
): [number, number][] {
  const out: [number, number][] = [];
  const diagonal = Math.max(Math.hypot(a.width / w, a.height / h), Math.hypot(b.width / w, b.height / h));
  for (let i = 0; i < h * w; i++)
    for (let j = 0; j < h * w; j++) {
      const [xa, ya] = centre(a, Math.floor(i / w), i % w, h, w);
      const [xb, yb] = centre(b, Math.floor(j / w), j % w, h, w);
      if (Math.hypot(xa - xb, ya - yb) / diagonal <= T) out.push([i, j]);
    }
  return out;
}

/** Eqs. 3-4: y_i = sum_j max(cos(x_i, x_j), 0)^gamma g(x_j) over the pixels of one image. */
function propagate(x: Matrix, gamma: number, g: (row: number[]) => number[]): Matrix {
  return x.map((xi) => {
    const out = new Array<number>(g(x[0]).length).fill(0);
    for (const xj of x) {
      const s = gamma === 0 ? 1 : Math.max(cosine(xi, xj), 0) ** gamma;
      g(xj).forEach((v, d) => (out[d] += s * v));
    }
    return out;
  });
}

/** Eq. 5 averaged: -(1/N) sum_n mean over A_n of cos(y1_i, t2_j) + cos(y2_j, t1_i), 0 for an image without pairs. */
function pixelLossReference(
  y: [Matrix[], Matrix[]],
  t: [Matrix[], Matrix[]],
  pairsOf: [number, number][][],
): number {
  const perImage = pairsOf.map((pairs, n) => {
    if (pairs.length === 0) return 0;
    const sum = pairs.reduce(
      (s, [i, j]) => s + cosine(y[0][n][i], t[1][n][j]) + cosine(y[1][n][j], t[0][n][i]),
      0,
    );
    return sum / pairs.length;
  });
  return -mean(perImage);
}

interface HeadWeights {
  pix: Parameters<typeof plainPredictor>[1];
  transform: { kernel: Matrix; bias: number[] };
}

function headWeights(loss: MethodModule): HeadWeights {
  const [k0, gamma, beta, k1, b1, tk, tb] = loss.trainableVariables.map((v) => v.arraySync());
  return {
    pix: {
      hiddenKernel: k0 as Matrix,
      gamma: gamma as number[],
      beta: beta as number[],
      outKernel: k1 as Matrix,
      outBias: b1 as number[],
    },
    transform: { kernel: tk as Matrix, bias: tb as number[] },
  };
}

/**
 * The whole pixel loss from the online maps (rows [N P, F] per view), the target maps and the head weights: the
 * pixel head on the rows of both views together (its BatchNorm sees one batch), propagation, eq. 5.
 */
function pixproReference(
  maps: Matrix[],
  targetMaps: Matrix[],
  w: HeadWeights,
  opts: { N: number; P: number; h: number; w: number; T: number; gamma: number },
): number {
  const split = (rows: Matrix): Matrix[] =>
    Array.from({ length: opts.N }, (_, n) => rows.slice(n * opts.P, (n + 1) * opts.P));
  const head = (both: Matrix[]) => {
    const out = plainPredictor([...both[0], ...both[1]], w.pix);
    return [out.slice(0, opts.N * opts.P), out.slice(opts.N * opts.P)].map(split);
  };
  const g = (row: number[]) =>
    w.transform.bias.map((b, d) => row.reduce((s, x, k) => s + x * w.transform.kernel[k][d], b));
  const [x1, x2] = head(maps);
  const y1 = x1.map((image) => propagate(image, opts.gamma, g));
  const y2 = x2.map((image) => propagate(image, opts.gamma, g));
  const [t1, t2] = head(targetMaps);
  const pairsOf = GEOMETRY[0]
    .slice(0, opts.N)
    .map((a, n) => positivePairs(a, GEOMETRY[1][n], opts.h, opts.w, opts.T));
  return pixelLossReference([y1, y2], [t1, t2], pairsOf);
}

const toRows = (map: tf.Tensor4D): Matrix => {
  const [N, h, w, F] = map.shape;
  return tf.tidy(() => tf.reshape(map, [N * h * w, F]).arraySync() as Matrix);
};

/** Value and gradients with respect to the online maps (given as [N P, F] rows per view). */
function valueAndMapGrads(
  loss: MethodModule,
  mapRows: Matrix[],
  images: tf.Tensor4D[],
  views: tf.Tensor2D[],
  shape: [number, number, number, number],
): { value: number; grads: Matrix[] } {
  const f = (...rows: tf.Tensor[]) =>
    loss.compute({
      views,
      images,
      geometry: GEOMETRY.map((g) => g.slice(0, shape[0])),
      maps: rows.map((r) => tf.reshape(r, shape) as tf.Tensor4D),
    });
  const tensors = mapRows.map((m) => tf.tensor2d(m));
  const { value, grads } = tf.valueAndGrads(f)(tensors);
  const out = { value: value.dataSync()[0], grads: grads.map((g) => g.arraySync() as Matrix) };
  tf.dispose([value, ...grads, ...tensors]);
  return out;
}

describe('pixpro', () => {
  it('matches a loop-by-loop reference of the paper (pairs, head, propagation, eq. 5) in value and gradients', () => {
    const network = tinyConvNetwork();
    const N = 3;
    const shape: [number, number, number, number] = [N, 2, 2, 3];
    for (const gamma of [2, 0.5]) {
      const loss = boundPixpro(network, { gamma });
      const images = randomImages(6, N);
      const views = randomViews(7, 2, N, 3).map((v) => tf.tensor2d(v));
      const maps = randomViews(8, 2, N * 4, 3);
      // the target starts as a copy of the online network and pixel head: its maps from the same network
      const target = network.forwardSpatial(tf.concat(images, 0) as tf.Tensor4D, true);
      const targetRows = toRows(target.map);
      const targetMaps = [targetRows.slice(0, N * 4), targetRows.slice(N * 4)];
      tf.dispose([target.map, target.h, target.z]);
      const w = headWeights(loss);
      const opts = { N, P: 4, h: 2, w: 2, T: PARAMS.T, gamma };
      const reference = (m: Matrix[]) => pixproReference(m, targetMaps, w, opts);
      const { value, grads } = valueAndMapGrads(loss, maps, images, views, shape);
      expectClose(value, reference(maps), 1e-4);
      expectGradsMatchScaled(grads, numericalGrad(reference, maps));
      // the reference is not trivial: image 0 pairs its 8-pixel cells with a flipped crop's 6-pixel ones (1 + 2 +
      // 2 + 4 pairs), image 1 a shifted smaller crop, image 2 two disjoint corners (no pair: it adds 0)
      const counts = [0, 1, 2].map(
        (n) => positivePairs(GEOMETRY[0][n], GEOMETRY[1][n], 2, 2, PARAMS.T).length,
      );
      expect(counts).toEqual([9, 9, 0]);
      tf.dispose([...images, ...views]);
      loss.dispose();
    }
    network.dispose();
  });

  it('adds alpha times BYOL’s instance loss on the projections, with the target projections as targets', () => {
    const network = tinyConvNetwork();
    const N = 3;
    const images = randomImages(9, N);
    const viewRows = randomViews(10, 2, N, 3);
    const views = viewRows.map((v) => tf.tensor2d(v));
    const maps = randomViews(11, 2, N * 4, 3);
    const shape: [number, number, number, number] = [N, 2, 2, 3];
    const pixelOnly = boundPixpro(network, { alpha: 0 });
    const withInstance = boundPixpro(network, { alpha: 0.5 });
    const target = network.forwardSpatial(tf.concat(images, 0) as tf.Tensor4D, true);
    const k = target.z.arraySync() as Matrix;
    const [k1, k2] = [k.slice(0, N), k.slice(N)];
    tf.dispose([target.map, target.h, target.z]);
    const [q0, g0, b0, q1, qb] = withInstance.trainableVariables.slice(7).map((v) => v.arraySync());
    const predictor = {
      hiddenKernel: q0 as Matrix,
      gamma: g0 as number[],
      beta: b0 as number[],
      outKernel: q1 as Matrix,
      outBias: qb as number[],
    };
    const [p1, p2] = viewRows.map((z) => plainPredictor(z, predictor));
    const instance = mean(p1.map((p, i) => 2 - 2 * cosine(p, k2[i]) + 2 - 2 * cosine(p2[i], k1[i])));
    const a = valueAndMapGrads(pixelOnly, maps, images, views, shape).value;
    const b = valueAndMapGrads(withInstance, maps, images, views, shape).value;
    expectClose(b, a + 0.5 * instance, 1e-4);
    expect(withInstance.trainableVariables).toHaveLength(7 + 5);
    expect(pixelOnly.trainableVariables).toHaveLength(7);
    tf.dispose([...images, ...views]);
    pixelOnly.dispose();
    withInstance.dispose();
    network.dispose();
  });

  it('propagation and the pixel loss have their closed forms', () => {
    // gamma = 0 and g = identity: every y_i is the sum of the image's pixels
    const x = tf.tensor3d([
      [
        [1, 0],
        [0, 2],
        [3, 1],
      ],
    ]);
    const y = pixelPropagation(x, 0, null);
    expect(y.arraySync()).toEqual([
      [
        [4, 3],
        [4, 3],
        [4, 3],
      ],
    ]);
    // gamma = 1: orthogonal pixels do not reach each other; negatively similar ones neither
    const z = tf.tensor3d([
      [
        [1, 0],
        [0, 1],
        [-1, 0],
      ],
    ]);
    expect(pixelPropagation(z, 1, null).arraySync()).toEqual([
      [
        [1, 0],
        [0, 1],
        [-1, 0],
      ],
    ]);
    // y = t on matched pairs: cos = 1 in both directions, L = -2; no pairs: 0
    const same = tf.tensor3d([
      [
        [1, 2],
        [3, 4],
      ],
    ]);
    const eye = tf.tensor3d([
      [
        [1, 0],
        [0, 1],
      ],
    ]);
    const none = tf.zeros([1, 2, 2]) as tf.Tensor3D;
    expectClose(pixproPixelLoss([same, same], [same, same], eye).dataSync()[0], -2, 1e-6);
    expectClose(pixproPixelLoss([same, same], [same, same], none).dataSync()[0], 0, 1e-6);
    // opposite targets: +2
    const opposite = tf.neg(same) as tf.Tensor3D;
    expectClose(pixproPixelLoss([same, same], [opposite, opposite], eye).dataSync()[0], 2, 1e-6);
    tf.dispose([x, y, z, same, eye, none, opposite]);
  });

  it('stays finite with gamma < 1, zero maps and identical views, and does not leak over training', () => {
    const network = tinyConvNetwork();
    const N = 3;
    const images = randomImages(12, N);
    for (const gamma of [0.3, 0]) {
      const loss = boundPixpro(network, { gamma, alpha: 1 });
      const zeros = [0, 1].map(() => Array.from({ length: N * 4 }, () => [0, 0, 0]));
      const views = randomViews(13, 2, N, 3).map((v) => tf.tensor2d(v));
      const { value, grads } = valueAndMapGrads(loss, zeros, images, views, [N, 2, 2, 3]);
      expectAllFinite(value, grads);
      tf.dispose(views);
      loss.dispose();
    }
    // training through forwardViews, as the trainer does: no tensor growth, and the loss goes down
    const loss = boundPixpro(network, { alpha: 1 });
    const optimizer = tf.train.sgd(0.05);
    const variables = [...network.trainableVariables, ...loss.trainableVariables];
    const values: number[] = [];
    let baseline = -1;
    for (let step = 0; step < 40; step++) {
      const cost = optimizer.minimize(
        () => {
          const { h, z, maps } = loss.forwardViews!(images);
          tf.dispose(h);
          return loss.compute({ views: z, images, maps, geometry: GEOMETRY });
        },
        true,
        variables,
      );
      values.push(cost!.dataSync()[0]);
      cost!.dispose();
      loss.afterStep!({ step: step + 1, totalSteps: 40 });
      if (step === 1) baseline = tf.memory().numTensors;
    }
    expect(tf.memory().numTensors).toBe(baseline);
    expect(values.at(-1)!).toBeLessThan(values[0]);
    optimizer.dispose();
    tf.dispose(images);
    loss.dispose();
    network.dispose();
  });

  it('moves the target backbone, projector and pixel head toward the online ones by 1 - m_k', () => {
    const network = tinyConvNetwork();
    const loss = boundPixpro(network, { baseMomentum: 0.9 });
    const before = stateArrays(loss);
    // online = target + 0.5 everywhere trainable: the network's and the pixel head's
    tf.tidy(() => network.trainableVariables.forEach((v) => v.assign(tf.add(v, 0.5))));
    const pixTrainable = loss.trainableVariables.slice(0, 5);
    pixTrainable.forEach((v) =>
      setVariable(
        v,
        tf.tidy(() => tf.add(v, 0.5).arraySync() as number[]),
      ),
    );
    loss.afterStep!({ step: 5, totalSteps: 10 });
    const m = byolTargetDecay(5, 10, 0.9);
    expectClose(m, 0.95, 1e-12);
    const after = stateArrays(loss);
    const shift = (name: string) => {
      const a = [after[name]].flat(Infinity) as number[];
      const b = [before[name]].flat(Infinity) as number[];
      return a.map((x, i) => x - b[i]);
    };
    // target.0: the first conv kernel; targetPix.0, .3, .4: the pixel head's kernels and bias
    for (const name of ['target.0', 'targetPix.0', 'targetPix.3', 'targetPix.4'])
      for (const d of shift(name)) expect(Math.abs(d - 0.05 * 0.5)).toBeLessThan(1e-6);
    // BatchNorm moving statistics are not moved by the momentum update
    const movingMean = network.allWeights.findIndex((w) => w.originalName.endsWith('moving_mean'));
    for (const d of shift(`target.${movingMean}`)) expect(d).toBe(0);
    loss.dispose();
    network.dispose();
  });

  it('round-trips its state and rejects unbound use, missing geometry, an mlp encoder and bad params', () => {
    const network = tinyConvNetwork();
    const N = 3;
    const images = randomImages(14, N);
    const views = randomViews(15, 2, N, 3).map((v) => tf.tensor2d(v));
    const value = (loss: MethodModule) => {
      const v = loss.compute({ views, images, geometry: GEOMETRY });
      const out = v.dataSync()[0];
      v.dispose();
      return out;
    };
    const source = boundPixpro(network, { alpha: 1 }, 1);
    tf.tidy(() => network.trainableVariables.forEach((v) => v.assign(tf.add(v, 0.2))));
    source.afterStep!({ step: 1, totalSteps: 10 });
    const other = tinyConvNetwork(6);
    const restored = boundPixpro(other, { alpha: 1 }, 2);
    // the online network and own heads are restored by the checkpoint: copy them here
    other.allWeights.forEach((w, i) => w.write(network.allWeights[i].read()));
    restored.trainableVariables.forEach((v, i) => v.assign(source.trainableVariables[i]));
    expect(Math.abs(value(restored) - value(source))).toBeGreaterThan(1e-4);
    const saved = source.getState!();
    restored.setState!(saved);
    tf.dispose(Object.values(saved));
    expectClose(value(restored), value(source), 1e-6);
    expect(Object.keys(stateArrays(restored)).sort()).toEqual(Object.keys(stateArrays(source)).sort());
    const state = restored.getState!();
    const wrong = { ...state, 'targetPix.0': tf.zeros([2]) };
    expect(() => restored.setState!(wrong)).toThrow(/targetPix\.0 has shape \[2\], expected \[3, 5\]/);
    tf.dispose([...Object.values(state), wrong['targetPix.0']]);

    const unbound = createPixpro(PARAMS);
    expect(unbound.trainableVariables).toEqual([]);
    expect(() => unbound.compute({ views, images, geometry: GEOMETRY })).toThrow(/before bind\(\)/);
    expect(() => source.compute({ views, images })).toThrow(/pass inputs\.geometry/);
    expect(() => source.compute({ views: [views[0]], images, geometry: GEOMETRY })).toThrow(
      /exactly 2 views/,
    );
    expect(() => source.forwardViews!([images[0]])).toThrow(/two views of the same size/);
    const mlp = buildNetwork({
      encoder: { type: 'mlp', hidden: [3] },
      projector: { layers: 1, hidden: 3, out: 3, batchNorm: false },
      inputShape: IMAGE,
      seed: 1,
    });
    const onMlp = boundPixpro(mlp);
    expect(() => onMlp.compute({ views, images, geometry: GEOMETRY })).toThrow(/convnet or resnet/);
    expect(() => createLoss('pixpro', { T: -1 })).toThrow(/T must be in \[0, 10\], got -1/);
    expect(() => createLoss('pixpro', { ppmLayers: 3 })).toThrow(/ppmLayers must be in \[0, 2\], got 3/);
    tf.dispose([...images, ...views]);
    [source, restored, onMlp].forEach((l) => l.dispose());
    [network, other, mlp].forEach((n) => n.dispose());
  });
});
