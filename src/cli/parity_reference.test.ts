// The PyTorch reference of `npm run parity` (bench/parity/) against the engine, piece by piece on small inputs:
// each framework choice the reference mirrors must give the engine's numbers when set the engine's way.
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultRunConfig, type RunConfig } from '../engine/config';
import { applyAugmentParams, type ImageAugmentParams } from '../engine/augment';
import { createOptimizer } from '../engine/optim';
import { createNtxent } from '../losses/ntxent';
import { knnTop1 } from '../metrics/knn';
import { buildBackbone, buildNetwork } from '../nn/networks';
import { Rng } from '../nn/random';

const PYTHON = '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch'], { timeout: 60_000 }).status === 0;
if (!hasTorch)
  console.warn(
    `parity reference tests skipped: ${PYTHON} has no torch (Debian: apt-get install python3-torch)`,
  );

interface Flat {
  shape: number[];
  data: number[];
}
const flat = (t: tf.Tensor): Flat => ({ shape: t.shape, data: Array.from(t.dataSync()) });

/** Requests to bench/parity/mirror.py, answered in one Python start (importing torch is the slow part). */
function mirror(requests: Record<string, unknown>[]): unknown[] {
  const result = spawnSync(PYTHON, ['bench/parity/mirror.py'], {
    input: JSON.stringify(requests),
    encoding: 'utf8',
    timeout: 300_000,
    maxBuffer: 64 << 20,
  });
  if (result.status !== 0) throw new Error(`mirror.py failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as unknown[];
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

function randomTensor(seed: number, shape: number[], lo = 0, hi = 1): tf.Tensor {
  const rng = new Rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Array.from({ length: size }, () => rng.uniform(lo, hi)),
    shape,
  );
}

const tinyResnet = (nn: Partial<RunConfig['nn']>): RunConfig =>
  defaultRunConfig({
    dataset: { id: 'cifar10' },
    encoder: { type: 'resnet', widths: [4, 8], blocks: [1, 1] },
    projector: { layers: 2, hidden: 16, out: 8, batchNorm: false },
    nn,
  });

const requests: Record<string, unknown>[] = [];
let answers: unknown[] = [];
/** Queues a request for the one Python call of beforeAll; the result reads its answer afterwards. */
function ask<T>(request: Record<string, unknown>): () => T {
  const index = requests.push(request) - 1;
  return () => answers[index] as T;
}

/** The engine backbone's h, and the queued reference answer with the same weights, for one nn.padding. */
function backbonePair(padding: 'same' | 'symmetric', training: boolean, perView: number) {
  const config = tinyResnet({ padding });
  const backbone = buildBackbone(config.encoder, [8, 8, 3], 7, { padding });
  const x = randomTensor(1, [4, 8, 8, 3], -1, 1) as tf.Tensor4D;
  const views = perView > 1 ? tf.split(x, perView, 0) : [x];
  const h = tf.concat(views.map((v) => backbone.apply(v, { training }) as tf.Tensor));
  const weights = Object.fromEntries(backbone.weights.map((w) => [w.originalName, flat(w.read())]));
  const torch = ask<{ h: Flat }>({ op: 'backbone', config, weights, x: flat(x), training, perView });
  const engine = Array.from(h.dataSync());
  tf.dispose([x, h, ...views]);
  backbone.dispose();
  return { engine, torch: () => torch().h.data };
}

interface LayerStats {
  name: string;
  std: number;
  maxAbs: number;
  biasMaxAbs: number | null;
}
interface ReferenceLayer {
  fanIn: number;
  std: number;
  maxAbs: number;
  biasStd?: number;
  biasMaxAbs?: number;
}

/** Per conv/dense layer of an engine network under nn.init: kernel std and max |w|, bias max |b|. */
function initStats(init: 'tfjs' | 'torch') {
  const config = defaultRunConfig({
    dataset: { id: 'cifar10' },
    encoder: { type: 'resnet', widths: [16, 32], blocks: [1, 1] },
    projector: { layers: 2, hidden: 64, out: 32, batchNorm: false },
    nn: { init },
  });
  const net = buildNetwork({ ...config, inputShape: [32, 32, 3], seed: 3, layers: config.nn });
  const engine: LayerStats[] = net.allWeights
    .filter((w) => w.originalName.endsWith('/kernel'))
    .map((w) => {
      const values = Array.from(w.read().dataSync());
      const bias = net.allWeights.find((b) => b.originalName === w.originalName.replace('/kernel', '/bias'));
      return {
        name: w.originalName,
        std: Math.sqrt(values.reduce((acc, v) => acc + v * v, 0) / values.length),
        maxAbs: Math.max(...values.map(Math.abs)),
        biasMaxAbs: bias ? Math.max(...Array.from(bias.read().dataSync(), Math.abs)) : null,
      };
    });
  net.dispose();
  return { engine, torch: ask<{ layers: ReferenceLayer[] }>({ op: 'initStats', config, seed: 3 }) };
}

const augmentParams: ImageAugmentParams[] = [
  {
    crop: { top: 1, left: 2, height: 5, width: 4 },
    flip: true,
    jitter: {
      order: ['hue', 'contrast', 'brightness', 'saturation'],
      brightness: 1.3,
      contrast: 0.7,
      saturation: 1.4,
      hue: 0.08,
    },
    grayscale: false,
  },
  {
    crop: { top: 0, left: 0, height: 8, width: 8 },
    flip: false,
    jitter: {
      order: ['saturation', 'brightness', 'hue', 'contrast'],
      brightness: 0.8,
      contrast: 1.35,
      saturation: 0.6,
      hue: -0.1,
    },
    grayscale: true,
  },
  { crop: { top: 3, left: 0, height: 3, width: 7 }, flip: true, jitter: null, grayscale: false },
];

function augmentPair() {
  const x = randomTensor(2, [3, 8, 8, 3]) as tf.Tensor4D;
  const y = applyAugmentParams(x, augmentParams, [6, 6]);
  const engine = Array.from(y.dataSync());
  const torch = ask<{ y: Flat }>({ op: 'augment', x: flat(x), params: augmentParams, outSize: [6, 6] });
  tf.dispose([x, y]);
  return { engine, torch };
}

function ntxentPair() {
  const z1 = randomTensor(3, [6, 5], -1, 1) as tf.Tensor2D;
  const z2 = randomTensor(4, [6, 5], -1, 1) as tf.Tensor2D;
  const loss = createNtxent({ tau: 0.5 }).compute({ views: [z1, z2] });
  const engine = loss.dataSync()[0];
  const torch = ask<{ loss: number }>({ op: 'ntxent', z1: flat(z1), z2: flat(z2), tau: 0.5 });
  tf.dispose([z1, z2, loss]);
  return { engine, torch };
}

/** Three steps of the engine's optimizer on one weight matrix, and the reference's on the same gradients. */
function optimizerPair(type: 'adam' | 'adamw') {
  const optimizer = { ...defaultRunConfig().optimizer, type, weightDecay: 0.05, eps: 1e-8 };
  const w = tf.variable(randomTensor(5, [3, 4], -1, 1));
  const grads = [6, 7, 8].map((seed) => randomTensor(seed, [3, 4], -1, 1));
  const torch = ask<{ w: Flat }>({
    op: 'optimizer',
    optimizer,
    w: flat(w),
    grads: grads.map(flat),
    lr: 0.01,
  });
  const own = createOptimizer(optimizer);
  for (const g of grads) own.apply([w], [g], 0.01);
  const engine = Array.from(w.dataSync());
  own.dispose();
  tf.dispose([w, ...grads]);
  return { engine, torch };
}

async function knnPair() {
  const rng = new Rng(9);
  const bank = randomTensor(10, [40, 6], -1, 1) as tf.Tensor2D;
  const queries = randomTensor(11, [25, 6], -1, 1) as tf.Tensor2D;
  const bankLabels = Int32Array.from({ length: 40 }, () => rng.int(3));
  const labels = Int32Array.from({ length: 25 }, () => rng.int(3));
  const engine = await knnTop1(
    { embeddings: bank, labels: bankLabels },
    { embeddings: queries, labels },
    { k: 7, temperature: 0.1 },
  );
  const torch = ask<{ accuracy: number }>({
    op: 'knn',
    bank: flat(bank),
    bankLabels: Array.from(bankLabels),
    queries: flat(queries),
    labels: Array.from(labels),
    k: 7,
    temperature: 0.1,
    classes: 3,
  });
  tf.dispose([bank, queries]);
  return { engine, torch };
}

describe.skipIf(!hasTorch)('PyTorch parity reference against the engine', () => {
  let cases: {
    same: ReturnType<typeof backbonePair>;
    symmetric: ReturnType<typeof backbonePair>;
    joint: ReturnType<typeof backbonePair>;
    perView: ReturnType<typeof backbonePair>;
    init: ReturnType<typeof initStats>[];
    augment: ReturnType<typeof augmentPair>;
    ntxent: ReturnType<typeof ntxentPair>;
    adam: ReturnType<typeof optimizerPair>;
    adamw: ReturnType<typeof optimizerPair>;
    knn: Awaited<ReturnType<typeof knnPair>>;
  };
  let backend = '';
  beforeAll(async () => {
    backend = tf.getBackend();
    await tf.setBackend('cpu');
    cases = {
      same: backbonePair('same', false, 1),
      symmetric: backbonePair('symmetric', false, 1),
      joint: backbonePair('symmetric', true, 1),
      perView: backbonePair('symmetric', true, 2),
      init: [initStats('tfjs'), initStats('torch')],
      augment: augmentPair(),
      ntxent: ntxentPair(),
      adam: optimizerPair('adam'),
      adamw: optimizerPair('adamw'),
      knn: await knnPair(),
    };
    answers = mirror(requests);
  }, 300_000);
  afterAll(async () => {
    await tf.setBackend(backend);
  });

  it("nn.padding: 'same' and 'symmetric' backbones give PyTorch's outputs with the same weights, and differ", () => {
    const { same, symmetric } = cases;
    expect(maxAbsDiff(same.engine, same.torch())).toBeLessThan(1e-4);
    expect(maxAbsDiff(symmetric.engine, symmetric.torch())).toBeLessThan(1e-4);
    // the same weights (same seed), only the stride-2 padding differs: the features must differ
    expect(maxAbsDiff(same.engine, symmetric.engine)).toBeGreaterThan(1e-2);
  });

  it('nn.batchNormViews: BatchNorm statistics per view match PyTorch calling the encoder per view', () => {
    const { joint, perView } = cases;
    expect(maxAbsDiff(joint.engine, joint.torch())).toBeLessThan(1e-4);
    expect(maxAbsDiff(perView.engine, perView.torch())).toBeLessThan(1e-4);
    expect(maxAbsDiff(joint.engine, perView.engine)).toBeGreaterThan(1e-2);
  });

  it("nn.init: every conv and linear layer has the reference's statistics under 'tfjs' and 'torch'", () => {
    cases.init.forEach(({ engine, torch }, scheme) => {
      const init = scheme === 0 ? 'tfjs' : 'torch';
      const reference = torch().layers;
      expect(engine.length).toBe(reference.length);
      engine.forEach((layer, k) => {
        const ref = reference[k];
        const label = `${init} ${layer.name}`;
        expect(layer.std / ref.std, `${label} std`).toBeGreaterThan(0.85);
        expect(layer.std / ref.std, `${label} std`).toBeLessThan(1.15);
        expect(layer.maxAbs / ref.maxAbs, `${label} max`).toBeGreaterThan(0.8);
        expect(layer.maxAbs / ref.maxAbs, `${label} max`).toBeLessThan(1.2);
        if (init === 'torch') expect(layer.maxAbs).toBeLessThanOrEqual(1 / Math.sqrt(ref.fanIn) + 1e-7);
        expect(layer.biasMaxAbs === null, `${label} has a bias`).toBe(ref.biasMaxAbs === undefined);
        if (layer.biasMaxAbs !== null && init === 'tfjs') expect(layer.biasMaxAbs).toBe(0);
        if (layer.biasMaxAbs !== null && init === 'torch') {
          expect(layer.biasMaxAbs).toBeLessThanOrEqual(1 / Math.sqrt(ref.fanIn) + 1e-7);
          expect(layer.biasMaxAbs / ref.biasMaxAbs!).toBeGreaterThan(0.5);
        }
      });
    });
  });

  it('augmentations: crop, resize, flip, colour jitter in any order and grayscale match for the same draws', () => {
    const torch = cases.augment.torch().y;
    expect(torch.shape).toEqual([3, 6, 6, 3]);
    expect(maxAbsDiff(cases.augment.engine, torch.data)).toBeLessThan(1e-4);
  });

  it('NT-Xent, Adam (coupled L2), AdamW (decoupled) and the weighted kNN give the same numbers', () => {
    expect(Math.abs(cases.ntxent.engine - cases.ntxent.torch().loss)).toBeLessThan(1e-5);
    expect(maxAbsDiff(cases.adam.engine, cases.adam.torch().w.data)).toBeLessThan(1e-6);
    expect(maxAbsDiff(cases.adamw.engine, cases.adamw.torch().w.data)).toBeLessThan(1e-6);
    // coupled and decoupled decay are different updates: the two must not agree with each other
    expect(maxAbsDiff(cases.adam.engine, cases.adamw.engine)).toBeGreaterThan(1e-5);
    expect(cases.knn.torch().accuracy).toBe(cases.knn.engine);
  });
});
