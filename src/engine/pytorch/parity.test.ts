// Parity of the generated PyTorch project with the playground: the encoder, every loss, the augmentations, the
// config and the synthetic data (Python run through /usr/bin/python3, see python_testing.ts).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { LOSS_CATALOG, type LossId } from '../../losses/catalog';
import { createAmclModule } from '../../methods/amcl';
import type { CmimModule } from '../../methods/cmim';
import { createHydraModule } from '../../methods/hydra';
import { drawMix, type M3colModule, type M3colParams } from '../../methods/m3col';
import { kmeans } from '../../methods/kmeans';
import type { MclModule } from '../../methods/mcl';
import { betaDraws, stepRng } from '../../methods/mixing';
import { createLoss } from '../../methods/registry';
import { buildPredictor } from '../../methods/target';
import type { MethodModule } from '../../methods/types';
import { buildMlpHead } from '../../nn/heads';
import { buildNetwork, type EncoderSpec, type ProjectorSpec } from '../../nn/networks';
import { correspondenceMasks } from '../../nn/pixel_pairs';
import { Rng } from '../../nn/random';
import type { Network } from '../../nn/types';
import {
  applyAugmentParams,
  makeViewsWithGeometry,
  sampleAugmentParams,
  type AugmentConfig,
} from '../augment';
import { defaultRunConfig, parseRunConfig, type RunConfig } from '../config';
import { syntheticDataset } from '../data/synthetic';
import { applyTarget } from '../data/targets';
import { exportSafetensors, exportTfjs, type InputPreprocessing } from '../export';
import { writeSafetensors, type SafetensorsTensor } from '../safetensors';
import { NOT_IN_PYTORCH } from './project';
import { check, maxAbsDifference, SKIP_REASON, TORCH } from './python_testing';
import { createHash } from 'node:crypto';

const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pytorch-parity-'));
  dirs.push(dir);
  return dir;
}

const f32 = (name: string, shape: number[], data: ArrayLike<number>): SafetensorsTensor => ({
  name,
  dtype: 'F32',
  shape,
  data: Float32Array.from(data),
});
const i32 = (name: string, shape: number[], data: ArrayLike<number>): SafetensorsTensor => ({
  name,
  dtype: 'I32',
  shape,
  data: Int32Array.from(data),
});
async function tensorEntry(name: string, t: tf.Tensor): Promise<SafetensorsTensor> {
  return t.dtype === 'int32'
    ? i32(name, t.shape, (await t.data()) as Int32Array)
    : f32(name, t.shape, (await t.data()) as Float32Array);
}

/** Trained-looking BatchNorm statistics and affine parameters, and biases, so that every weight matters. */
function scrambleStatistics(network: Network, seed: number): void {
  const rng = new Rng(seed);
  for (const weight of network.allWeights) {
    const name = weight.originalName;
    const range = name.endsWith('moving_variance') || name.endsWith('gamma') ? [0.5, 1.5] : [-0.5, 0.5];
    if (name.endsWith('/kernel')) continue;
    const values = Float32Array.from({ length: weight.read().size }, () => rng.uniform(range[0], range[1]));
    const value = tf.tensor(values, weight.shape as number[]);
    weight.write(value);
    value.dispose();
  }
}

/** Writes `network` as model.safetensors-style `file`, inputs standardised with mean 0.5 and std 0.25 a channel. */
async function saveNetwork(
  file: string,
  network: Network,
  config: RunConfig,
  imageShape: [number, number, number],
): Promise<void> {
  const channels = imageShape[2];
  const preprocessing: InputPreprocessing = {
    imageShape,
    mean: Array(channels).fill(0.5),
    std: Array(channels).fill(0.25),
  };
  await writeFile(file, await exportSafetensors(network, config, { preprocessing }));
}

const measured: Record<string, number> = {};
afterAll(() => {
  if (Object.keys(measured).length > 0)
    console.log(`PyTorch parity, max abs differences: ${JSON.stringify(measured)}`);
});

interface ValueAndGradients {
  value: number;
  grads: Record<string, ArrayLike<number>>;
}

/**
 * The PyTorch loss value and gradients of case `name` against the TypeScript ones, within 1e-4 relative (to the
 * value, and to the largest gradient entry); the differences go to `measured`.
 */
function expectValueAndGradients(name: string, result: ValueAndGradients, ts: ValueAndGradients): void {
  measured[`${name} value`] = Math.abs(result.value - ts.value);
  expect(measured[`${name} value`], `${name}: PyTorch ${result.value}, TypeScript ${ts.value}`).toBeLessThan(
    1e-4 * Math.max(1, Math.abs(ts.value)),
  );
  expect(Object.keys(result.grads).sort()).toEqual(Object.keys(ts.grads).sort());
  let largest = 0;
  let difference = 0;
  for (const [key, grad] of Object.entries(ts.grads)) {
    difference = Math.max(difference, maxAbsDifference(result.grads[key], grad));
    largest = Math.max(largest, ...Array.from(grad, Math.abs));
  }
  measured[`${name} gradients`] = difference;
  expect(difference, `${name} gradients`).toBeLessThan(1e-4 * Math.max(1, largest));
  // gradients of a visible size, so that the bound says something
  expect(largest, `${name} largest gradient`).toBeGreaterThan(1e-3);
}

describe.skipIf(!TORCH.ok)(`the PyTorch project against the playground${SKIP_REASON}`, () => {
  it("(a) the PyTorch encoder loaded from model.safetensors gives the TF.js model's h and z on the same raw pixels within 1e-4", async () => {
    const cases: {
      name: string;
      encoder: EncoderSpec;
      projector: ProjectorSpec;
      imageShape: [number, number, number];
      padding?: 'same' | 'symmetric';
    }[] = [
      // even sizes: stride-2 'same' convs pad 0 top/left and 1 bottom/right; 1x1 shortcuts at stride 2
      {
        name: 'resnet',
        encoder: { type: 'resnet', widths: [4, 6, 8], blocks: [1, 2, 1] },
        projector: { layers: 2, hidden: 10, out: 5, batchNorm: true },
        imageShape: [8, 8, 3],
      },
      // RunConfig nn.padding 'symmetric': PyTorch's padding 1 on every side of the stride-2 3x3 convs
      {
        name: 'resnet symmetric',
        encoder: { type: 'resnet', widths: [4, 6], blocks: [1, 1] },
        projector: { layers: 2, hidden: 10, out: 5, batchNorm: true },
        imageShape: [8, 8, 3],
        padding: 'symmetric',
      },
      // odd sizes: max-pooling pads the last row and column
      {
        name: 'convnet',
        encoder: { type: 'convnet', channels: [4, 6] },
        projector: { layers: 3, hidden: 7, out: 4, batchNorm: false },
        imageShape: [7, 7, 1],
      },
      // channels-last flattening of a non-square image
      {
        name: 'mlp',
        encoder: { type: 'mlp', hidden: [9, 7] },
        projector: { layers: 1, hidden: 4, out: 5, batchNorm: true },
        imageShape: [5, 4, 3],
      },
      // projector.layers 0: no projector, z = h
      {
        name: 'mlp without a projector',
        encoder: { type: 'mlp', hidden: [9, 7] },
        projector: { layers: 0, hidden: 4, out: 5, batchNorm: true },
        imageShape: [5, 4, 3],
      },
    ];
    const runs: { name: string; dir: string; h: Float32Array; z: Float32Array; imageShape: number[] }[] = [];
    for (const { name, encoder, projector, imageShape, padding = 'same' } of cases) {
      const dir = await tempDir();
      const network = buildNetwork({
        encoder,
        projector,
        inputShape: imageShape,
        seed: 3,
        layers: { padding },
      });
      scrambleStatistics(network, 9);
      const config = parseRunConfig({ encoder, projector, dataset: { id: 'synthetic' }, nn: { padding } });
      const channels = imageShape[2];
      const preprocessing: InputPreprocessing = {
        imageShape,
        mean: [0.45, 0.3, 0.6].slice(0, channels),
        std: [0.2, 0.27, 0.31].slice(0, channels),
      };
      await writeFile(
        path.join(dir, 'model.safetensors'),
        await exportSafetensors(network, config, { preprocessing }),
      );
      const { modelJson, weightsBin } = await exportTfjs(network, config, { preprocessing });
      const artifacts = await tf.io.getModelArtifactsForJSON(
        JSON.parse(JSON.stringify(modelJson)) as tf.io.ModelJSON,
        async (manifest) => [manifest.flatMap((group) => group.weights), weightsBin.slice(0)],
      );
      const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
      const pixels = tf.floor(tf.randomUniform([6, ...imageShape], 0, 256, 'float32', 17));
      const [h, z] = loaded.predict(pixels) as tf.Tensor[];
      await writeFile(
        path.join(dir, 'pixels.safetensors'),
        writeSafetensors([await tensorEntry('pixels', pixels)]),
      );
      runs.push({
        name,
        dir,
        h: (await h.data()) as Float32Array,
        z: (await z.data()) as Float32Array,
        imageShape,
      });
      tf.dispose([pixels, h, z]);
      loaded.dispose();
      network.dispose();
    }
    const py = await check<{ h: number[]; z: number[]; image_size: number[] }[]>(
      'model',
      runs.map((r) => r.dir),
    );
    runs.forEach(({ name, h, z, imageShape }, i) => {
      expect(py[i].image_size).toEqual(imageShape.slice(0, 2));
      measured[`${name} h`] = maxAbsDifference(py[i].h, h);
      measured[`${name} z`] = maxAbsDifference(py[i].z, z);
      expect(measured[`${name} h`], `${name} h`).toBeLessThan(1e-4);
      expect(measured[`${name} z`], `${name} z`).toBeLessThan(1e-4);
      // outputs of a visible size, so that the bound above says something
      expect(Math.max(...Array.from(z, Math.abs))).toBeGreaterThan(1e-2);
    });
  });

  it('(b) every loss of the project equals the TypeScript loss on the same embeddings (methods given the same states) within 1e-5', async () => {
    const dir = await tempDir();
    const N = 12;
    const D = 6;
    const imageShape: [number, number, number] = [8, 8, 3];
    const encoder: EncoderSpec = { type: 'convnet', channels: [4, 8] };
    const projector: ProjectorSpec = { layers: 2, hidden: 16, out: D, batchNorm: true };
    const config = parseRunConfig({ encoder, projector, dataset: { id: 'synthetic' } });
    const network = buildNetwork({ encoder, projector, inputShape: imageShape, seed: 5 });
    scrambleStatistics(network, 4);
    await saveNetwork(path.join(dir, 'model.safetensors'), network, config, imageShape);

    const rng = new Rng(21);
    const matrix = (rows: number, cols: number, scale = 1) =>
      tf.tensor2d(
        Float32Array.from({ length: rows * cols }, () => scale * rng.normal()),
        [rows, cols],
      );
    const views = [matrix(N, D), matrix(N, D), matrix(N, D)];
    // a shared component makes the views of an instance alike, as augmented views are
    const shared = matrix(N, D);
    const alike = views.map((v) => tf.add(v, tf.mul(shared, 1.5)) as tf.Tensor2D);
    const labels = tf.tensor1d(
      rng.permutation(N).map((i) => i % 3),
      'int32',
    );
    const features = [matrix(N, 8), matrix(N, 8)];
    const images = [0, 1].map(
      () =>
        tf.tensor4d(
          Float32Array.from({ length: N * 8 * 8 * 3 }, () => rng.normal()),
          [N, ...imageShape],
        ) as tf.Tensor4D,
    );

    const stateless: LossId[] = [
      'ntxent',
      'dcl',
      'dclw',
      'supcon',
      'mv_infonce',
      'mv_dhel',
      'align_uniform',
      'barlow_twins',
      'vicreg',
      'cacr',
      'clip',
      'mnr',
    ];
    const cases: { name: string; id: LossId; params: Record<string, number>; views: number }[] = [
      ...stateless.map((id) => ({ name: id, id, params: {}, views: 2 })),
      ...(['ntxent', 'supcon', 'mv_infonce', 'mv_dhel', 'cacr'] as LossId[]).map((id) => ({
        name: `${id} 3 views`,
        id,
        params: {},
        views: 3,
      })),
      {
        name: 'align_uniform alpha 1.5',
        id: 'align_uniform',
        params: { alpha: 1.5, t: 3, lambda: 0.5 },
        views: 2,
      },
      { name: 'moco', id: 'moco', params: { K: 16, m: 0.99, tau: 0.2 }, views: 2 },
      { name: 'byol', id: 'byol', params: { baseEma: 0.99, predHidden: 10 }, views: 2 },
      { name: 'simsiam', id: 'simsiam', params: { predHidden: 10 }, views: 2 },
      // the paper's ablation: no predictor (p = z) and no stop-gradient (same value, gradient into both branches)
      {
        name: 'simsiam without predictor',
        id: 'simsiam',
        params: { predictor: 0, stopGradient: 0 },
        views: 2,
      },
      { name: 'swav', id: 'swav', params: { K: 5, eps: 0.05, iters: 3, tau: 0.1 }, views: 2 },
      { name: 'swav 3 views', id: 'swav', params: { K: 5, eps: 0.05, iters: 3, tau: 0.1 }, views: 3 },
      { name: 'hydra', id: 'hydra', params: { beta: 1, s0: 10 }, views: 2 },
      { name: 'amcl', id: 'amcl', params: { heads: 2, beta: 1e-4, tauMin: 0.05, tauMax: 2 }, views: 2 },
    ];
    for (const c of cases) c.params = { ...defaultParams(c.id), ...c.params };

    const tensors: SafetensorsTensor[] = [];
    for (const [v, view] of alike.entries()) tensors.push(await tensorEntry(`views.${v}`, view));
    for (const [v, f] of features.entries()) tensors.push(await tensorEntry(`features.${v}`, f));
    for (const [v, batch] of images.entries()) tensors.push(await tensorEntry(`images.${v}`, batch));
    tensors.push(await tensorEntry('labels', labels));

    const hydraWidths = { embedding: 16, hidden: 24 };
    const partner = rng.permutation(N);
    const expected: Record<string, number> = {};
    for (const c of cases) {
      const module: MethodModule =
        c.id === 'hydra'
          ? createHydraModule(c.params as never, { partnerPermutation: () => partner, widths: hydraWidths })
          : c.id === 'amcl'
            ? createAmclModule(c.params as never)
            : createLoss(c.id, c.params);
      module.bind?.({ network, totalSteps: 100, stepsPerEpoch: 10, numClasses: 3, seed: 7 });
      const value = module.compute({ views: alike.slice(0, c.views), labels, features, images });
      expected[c.name] = (await value.data())[0];
      value.dispose();
      const state = module.getState?.() ?? {};
      const entries = Object.entries(state);
      if (c.id === 'moco') tensors.push(await tensorEntry('moco.queue', state.queue));
      if (c.id === 'swav' && c.views === 2)
        tensors.push(await tensorEntry('swav.prototypes', state.prototypes));
      if (c.id === 'byol' || (c.id === 'simsiam' && c.params.predictor !== 0)) {
        // getState numbers the predictor's weights; a predictor of the same shape gives their TF.js names
        const named = buildPredictor(D, c.params.predHidden, 0, `${c.id}_predictor`);
        for (const [i, weight] of named.weights.entries()) {
          tensors.push(await tensorEntry(`${c.id}/${weight.originalName}`, state[`predictor.${i}`]));
        }
        named.dispose();
      }
      if (c.id === 'hydra') {
        for (const [name, t] of entries) {
          if (name === 'classEmbedding' || name === 'logScale')
            tensors.push(await tensorEntry(`hydra.${name}`, t));
          else if (name.includes('/')) tensors.push(await tensorEntry(`hydra/${name}`, t));
        }
        tensors.push(i32('hydra.partner', [N], partner));
      }
      if (c.id === 'amcl')
        for (const [name, t] of entries) tensors.push(await tensorEntry(`amcl/${name}`, t));
      tf.dispose(Object.values(state));
      module.dispose();
    }
    await writeFile(
      path.join(dir, 'losses.safetensors'),
      writeSafetensors(tensors, {
        cases: JSON.stringify(cases),
        run_config: JSON.stringify(config),
        image_shape: JSON.stringify(imageShape),
        views: '3',
        classes: '3',
        hydra_widths: JSON.stringify([hydraWidths.embedding, hydraWidths.hidden]),
      }),
    );
    const py = await check<Record<string, number>>('losses', [dir]);
    for (const c of cases) {
      const difference = Math.abs(py[c.name] - expected[c.name]);
      measured[`loss ${c.name}`] = difference;
      // 1e-5, relative for the losses whose value is far above 1 (float32 rounding scales with the value)
      expect(difference, `${c.name}: PyTorch ${py[c.name]}, TypeScript ${expected[c.name]}`).toBeLessThan(
        1e-5 * Math.max(1, Math.abs(expected[c.name])),
      );
    }
    // the values differ from loss to loss, so a case that read the wrong inputs would show
    expect(new Set(Object.values(expected).map((v) => v.toFixed(4))).size).toBeGreaterThan(cases.length - 3);
    tf.dispose([...views, shared, ...alike, labels, ...features, ...images]);
    network.dispose();
  });

  it("(e) the mixup methods' (m3col, supremix) loss and gradients (views and encoder weights) equal the engine's within 1e-4, with the same random draws", async () => {
    const dir = await tempDir();
    const N = 8;
    const D = 6;
    const imageShape: [number, number, number] = [8, 8, 3];
    const encoder: EncoderSpec = { type: 'convnet', channels: [4] };
    const projector: ProjectorSpec = { layers: 2, hidden: 8, out: D, batchNorm: true };
    const config = parseRunConfig({ encoder, projector, dataset: { id: 'synthetic' } });
    const network = buildNetwork({ encoder, projector, inputShape: imageShape, seed: 6 });
    scrambleStatistics(network, 8);
    await saveNetwork(path.join(dir, 'model.safetensors'), network, config, imageShape);
    const rng = new Rng(31);
    const normal = (shape: number[], scale = 1) =>
      tf.tensor(
        Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => scale * rng.normal()),
        shape,
      );
    const shared = normal([N, D]);
    const views = [0, 1].map(() => tf.add(normal([N, D]), tf.mul(shared, 1.5)) as tf.Tensor2D);
    const images = [0, 1].map(() => normal([N, ...imageShape]) as tf.Tensor4D);
    const labels = tf.tensor1d(
      Array.from({ length: N }, (_, i) => i % 3),
      'int32',
    );
    // ties (a positive besides the other view), and anchors with and without a lower and a higher neighbour
    const targets = tf.tensor1d([1, 2, 2, 3.5, 5, 7, 7.25, 12]);
    const seed = 7;
    const cases: {
      name: string;
      id: LossId;
      params: Record<string, number>;
      step: number;
      totalSteps: number;
    }[] = [
      { name: 'm3col', id: 'm3col', params: {}, step: 3, totalSteps: 100 },
      { name: 'm3col mixing projections', id: 'm3col', params: { mixInput: 0 }, step: 4, totalSteps: 100 },
      // Beta(0.5, 0.5): the gamma draws of shape < 1
      {
        name: 'm3col beta 0.5, pMix 1',
        id: 'm3col',
        params: { beta: 0.5, pMix: 1 },
        step: 0,
        totalSteps: 100,
      },
      { name: 'm3col edge maps', id: 'm3col', params: { modality: 1 }, step: 5, totalSteps: 100 },
      {
        name: 'm3col edge maps, separate encoder',
        id: 'm3col',
        params: { modality: 1, separateEncoder: 1 },
        step: 6,
        totalSteps: 100,
      },
      { name: 'm3col SoftCLIP phase', id: 'm3col', params: {}, step: 33, totalSteps: 100 },
      { name: 'supremix', id: 'supremix', params: {}, step: 2, totalSteps: 100 },
      // Beta(0.5, 3): gamma draws of shape < 1; a narrow window: fewer mix positives
      {
        name: 'supremix alpha 0.5, window 2, lambda 0.5',
        id: 'supremix',
        params: { alphaA: 0.5, alphaB: 3, window: 2, lambda: 0.5 },
        step: 9,
        totalSteps: 100,
      },
      {
        name: 'supremix without mix negatives',
        id: 'supremix',
        params: { mixNeg: 0 },
        step: 1,
        totalSteps: 100,
      },
      {
        name: 'supremix without mix positives',
        id: 'supremix',
        params: { mixPos: 0 },
        step: 1,
        totalSteps: 100,
      },
    ];
    for (const c of cases) c.params = { ...defaultParams(c.id), ...c.params };

    const named = (net: Network, prefix: string) =>
      [
        ...net.backbone.trainableWeights.map((w) => ({ name: `${prefix}backbone/${w.originalName}`, w })),
        ...net.projector.trainableWeights.map((w) => ({ name: `${prefix}projector/${w.originalName}`, w })),
      ].map(({ name, w }) => ({ name, variable: w.read() as tf.Variable }));
    const expected: Record<
      string,
      { value: number; grads: Record<string, Float32Array>; draws?: number[][][] | number[] }
    > = {};
    for (const c of cases) {
      const module = createLoss(c.id, c.params) as MethodModule;
      module.bind?.({ network, totalSteps: c.totalSteps, stepsPerEpoch: 10, numClasses: 3, seed });
      const second = (module as Partial<M3colModule>).secondEncoder ?? null;
      const variables = [
        ...views.map((v, i) => ({ name: `views.${i}`, variable: tf.variable(v, true, `e_${c.name}_${i}`) })),
        ...named(network, ''),
        ...(second ? named(second, 'second/') : []),
      ];
      const { value, grads } = tf.variableGrads(
        () =>
          module.compute({
            views: variables.slice(0, 2).map((v) => v.variable as tf.Tensor as tf.Tensor2D),
            labels,
            images,
            targets,
            step: c.step,
          }),
        variables.map((v) => v.variable),
      );
      const byName: Record<string, Float32Array> = {};
      for (const { name, variable } of variables)
        // no entry for a weight the loss does not reach (mixInput 0 without an edge map): a zero gradient
        byName[name] = grads[variable.name]
          ? ((await grads[variable.name].data()) as Float32Array)
          : new Float32Array(variable.size);
      expected[c.name] = {
        value: (await value.data())[0],
        grads: byName,
        draws:
          c.id === 'm3col'
            ? [0, 1].map((m) => {
                const draw = drawMix(seed, c.step, m, N, c.params as M3colParams);
                return [Array.from(draw.lambdas), Array.from(draw.perm)];
              })
            : Array.from(betaDraws(stepRng(seed, c.step, 0), 4 * N * N, c.params.alphaA, c.params.alphaB)),
      };
      tf.dispose([value, ...Object.values(grads), ...variables.slice(0, 2).map((v) => v.variable)]);
      module.dispose();
    }
    const tensors: SafetensorsTensor[] = [];
    for (const [v, view] of views.entries()) tensors.push(await tensorEntry(`views.${v}`, view));
    for (const [v, batch] of images.entries()) tensors.push(await tensorEntry(`images.${v}`, batch));
    tensors.push(await tensorEntry('labels', labels));
    tensors.push(await tensorEntry('targets', targets));
    await writeFile(
      path.join(dir, 'methods.safetensors'),
      writeSafetensors(tensors, {
        cases: JSON.stringify(cases),
        run_config: JSON.stringify(config),
        image_shape: JSON.stringify(imageShape),
        seed: String(seed),
      }),
    );
    const py = await check<
      Record<string, { value: number; grads: Record<string, number[]>; draws?: number[][][] | number[] }>
    >('methods', [dir]);
    for (const c of cases) {
      const ts = expected[c.name];
      const result = py[c.name];
      if (ts.draws) expect(result.draws, `${c.name} draws`).toEqual(ts.draws);
      expectValueAndGradients(c.name, result, ts);
    }
    tf.dispose([shared, ...views, ...images, labels, targets]);
    network.dispose();
  });

  it("(f) mcl's stages as the engine's: each stage's loss and view gradients within 1e-4, the same k-means groups, the reinit and frozen stages, the concatenated representation", async () => {
    const dir = await tempDir();
    const N = 8;
    const D = 6;
    const M = 30;
    const imageShape: [number, number, number] = [8, 8, 3];
    const encoder: EncoderSpec = { type: 'convnet', channels: [4] };
    const projector: ProjectorSpec = { layers: 2, hidden: 8, out: D, batchNorm: true };
    const config = parseRunConfig({ encoder, projector, dataset: { id: 'synthetic' } });
    const network = buildNetwork({ encoder, projector, inputShape: imageShape, seed: 12 });
    const save = (name: string) => saveNetwork(path.join(dir, name), network, config, imageShape);
    scrambleStatistics(network, 2);
    await save('model.safetensors');
    const params = { tau: 0.3, stages: 3, clusters: 3, stageSteps: 2, reinit: 1 };
    const seed = 7;
    const totalSteps = 10;
    const module = createLoss('mcl', params) as MclModule;
    module.bind({ network, totalSteps, stepsPerEpoch: 5, numClasses: 3, seed, trainCount: M });
    // the weights trained in stage 1 (frozen at its end), and in stage 2 after the reinit
    scrambleStatistics(network, 3);
    await save('stage1.safetensors');

    const rng = new Rng(41);
    const normal = (shape: number[], scale = 1) =>
      tf.tensor(
        Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => scale * rng.normal()),
        shape,
      );
    const F = network.featureDim;
    // features of three loose clusters, different at each boundary, so that the groups intersect
    const features = [1, 2].map(() => {
      const centres = normal([3, F], 2);
      const member = tf.tensor1d(
        Array.from({ length: M }, () => rng.int(3)),
        'int32',
      );
      return tf.add(tf.gather(centres, member), normal([M, F])) as tf.Tensor2D;
    });
    const indices = Int32Array.from(rng.permutation(M).slice(0, N));
    const steps = [0, 2, 4];
    const views = steps.map(() => {
      const shared = normal([N, D]);
      return [0, 1].map(() => tf.add(normal([N, D]), tf.mul(shared, 1.5)) as tf.Tensor2D);
    });
    const images = normal([5, ...imageShape]) as tf.Tensor4D;
    const resets: number[] = [];
    const expected: { stage: number; groups: number[]; value: number; grads: number[] }[] = [];
    for (const [s, step] of steps.entries()) {
      if (s > 0) {
        await module.atStepBoundary({
          step,
          totalSteps,
          embedTrain: async () => tf.clone(features[s - 1]),
          resetOptimizer: () => resets.push(step),
        });
        if (s === 1) {
          scrambleStatistics(network, 4);
          await save('stage2.safetensors');
        }
      }
      const variables = views[s].map((v, i) => tf.variable(v, true, `mcl_${s}_${i}`));
      const { value, grads } = tf.variableGrads(
        () => module.compute({ views: variables as tf.Tensor2D[], indices, step }),
        variables,
      );
      expected.push({
        stage: module.stage(),
        groups: Array.from(module.groups ?? []),
        value: (await value.data())[0],
        grads: [...(await grads[variables[0].name].data()), ...(await grads[variables[1].name].data())],
      });
      tf.dispose([value, ...Object.values(grads), ...variables]);
    }
    const h = network.forward(images, false).h;
    const representation = module.evalFeatures(h, images);
    // k-means alone on unstructured points: many Lloyd iterations, each assignment a close call
    const [n, d, k, kmeansSeed] = [400, 12, 7, 5];
    const points = Float32Array.from({ length: n * d }, () => rng.uniform(-1, 1));
    const clusters = kmeans(points, n, d, k, { seed: kmeansSeed, maxIterations: 30 });

    const tensors: SafetensorsTensor[] = [i32('indices', [N], indices), f32('points', [n, d], points)];
    for (const [s, pair] of views.entries())
      for (const [v, view] of pair.entries()) tensors.push(await tensorEntry(`views.${s}.${v}`, view));
    for (const [s, f] of features.entries()) tensors.push(await tensorEntry(`features.${s + 1}`, f));
    tensors.push(await tensorEntry('images', images));
    await writeFile(
      path.join(dir, 'mcl.safetensors'),
      writeSafetensors(tensors, {
        run_config: JSON.stringify(config),
        image_shape: JSON.stringify(imageShape),
        params: JSON.stringify(params),
        seed: String(seed),
        steps: JSON.stringify(steps),
        total_steps: String(totalSteps),
        train_count: String(M),
        k: String(k),
        kmeans_seed: String(kmeansSeed),
      }),
    );
    const py = await check<{
      stages: { stage: number; groups: number[]; value: number; grads: number[] }[];
      representation: number[];
      resets: number[];
      kmeans: number[];
    }>('mcl', [dir]);
    expect(py.kmeans).toEqual(Array.from(clusters.assignments));
    expect(clusters.iterations).toBeGreaterThan(3);
    expect(py.resets).toEqual(resets);
    expect(resets).toEqual([2, 4]);
    for (const [s, ts] of expected.entries()) {
      const result = py.stages[s];
      expect(result.stage).toBe(s + 1);
      expect(result.groups, `groups in stage ${s + 1}`).toEqual(ts.groups);
      measured[`mcl stage ${s + 1} value`] = Math.abs(result.value - ts.value);
      measured[`mcl stage ${s + 1} gradients`] = maxAbsDifference(result.grads, ts.grads);
      expect(measured[`mcl stage ${s + 1} value`]).toBeLessThan(1e-4);
      expect(measured[`mcl stage ${s + 1} gradients`]).toBeLessThan(1e-4);
      expect(Math.max(...ts.grads.map(Math.abs))).toBeGreaterThan(1e-3);
    }
    // the stages refine the groups: one in stage 1, then more, then more still
    expect(expected.map((e) => new Set(e.groups).size)).toEqual([1, 3, expect.any(Number)]);
    expect(new Set(expected[2].groups).size).toBeGreaterThan(3);
    measured['mcl representation'] = maxAbsDifference(py.representation, await representation.data());
    expect(measured['mcl representation']).toBeLessThan(1e-4);
    expect(representation.shape).toEqual([5, 3 * F]);
    tf.dispose([...features, ...views.flat(), images, h, representation]);
    module.dispose();
    network.dispose();
  });

  it("(g) pixpro's loss and gradients (encoder and heads) equal the engine's within 1e-4 on the views' crop boxes, with the same pixel pairs and momentum target", async () => {
    const dir = await tempDir();
    const N = 6;
    const imageShape: [number, number, number] = [12, 12, 3];
    const projector: ProjectorSpec = { layers: 2, hidden: 8, out: 5, batchNorm: true };
    const rng = new Rng(53);
    // random crops, some without any overlap (images without a positive pair), and flips
    const source = tf.tensor4d(
      Float32Array.from({ length: N * 12 * 12 * 3 }, () => rng.uniform(0, 1)),
      [N, ...imageShape],
    );
    const drawn = makeViewsWithGeometry(
      source,
      { crop: { scale: [0.04, 0.4], ratio: [3 / 4, 4 / 3] }, flip: 0.5, jitter: null, grayscale: 0 },
      { large: 2, small: 0, smallSize: 4, smallScale: [0.05, 0.4] },
      new Rng(8),
    );
    const images = drawn.views.map((v) => tf.div(tf.sub(v, 0.5), 0.25) as tf.Tensor4D);
    const geometry = drawn.geometry;
    expect(geometry.flat().some((g) => g.flip) && geometry.flat().some((g) => !g.flip)).toBe(true);
    const small = { pixHidden: 12, pixDim: 5, predHidden: 10 };
    const cases: { name: string; encoder: EncoderSpec; params: Record<string, number> }[] = [
      { name: 'pixpro', encoder: { type: 'convnet', channels: [4] }, params: { ...small } },
      // gamma 0 (every pixel weighs 1), a two-layer transform g, no instance term (the projector gets no gradient)
      {
        name: 'pixpro gamma 0, ppmLayers 2, alpha 0',
        encoder: { type: 'convnet', channels: [4] },
        params: { ...small, gamma: 0, ppmLayers: 2, alpha: 0, T: 1.5 },
      },
      // the resnet's map, gamma < 1 (pow near 0), g the identity, a wide threshold
      {
        name: 'pixpro resnet, gamma 0.5, ppmLayers 0, T 3',
        encoder: { type: 'resnet', widths: [4, 6], blocks: [1, 1] },
        params: { ...small, gamma: 0.5, ppmLayers: 0, alpha: 0.5, T: 3, baseMomentum: 0.9 },
      },
    ];
    const tensors: SafetensorsTensor[] = [];
    for (const [v, batch] of images.entries()) tensors.push(await tensorEntry(`images.${v}`, batch));
    for (const [v, boxes] of geometry.entries())
      for (const key of ['top', 'left', 'height', 'width'] as const)
        tensors.push(
          f32(
            `geometry.${v}.${key}`,
            [N],
            boxes.map((g) => g[key]),
          ),
        );
    for (const [v, boxes] of geometry.entries())
      tensors.push(
        i32(
          `geometry.${v}.flip`,
          [N],
          boxes.map((g) => Number(g.flip)),
        ),
      );
    const step = 5;
    const totalSteps = 40;
    const expected: Record<
      string,
      {
        value: number;
        grads: Record<string, Float32Array>;
        masks: Float32Array;
        target: Record<string, Float32Array>;
      }
    > = {};
    const caseConfigs: { name: string; config: RunConfig; step: number; totalSteps: number }[] = [];
    for (const [i, c] of cases.entries()) {
      const params = { ...defaultParams('pixpro'), ...c.params };
      const config = parseRunConfig({
        encoder: c.encoder,
        projector,
        dataset: { id: 'synthetic' },
        loss: { id: 'pixpro', params },
      });
      caseConfigs.push({ name: c.name, config, step, totalSteps });
      const network = buildNetwork({ encoder: c.encoder, projector, inputShape: imageShape, seed: 20 + i });
      scrambleStatistics(network, 30 + i);
      const module = createLoss('pixpro', params) as MethodModule;
      module.bind?.({ network, totalSteps, stepsPerEpoch: 10, numClasses: 3, seed: 7 });
      // the online network moves away from its target, and the heads get trained-looking weights
      scrambleStatistics(network, 40 + i);
      await saveNetwork(path.join(dir, `model.${i}.safetensors`), network, config, imageShape);
      const F = network.featureDim;
      const D = network.embeddingDim;
      const heads: [string, string, tf.LayersModel | null][] = [
        [
          'targetPix',
          'target_pix',
          buildMlpHead(
            F,
            { layers: 2, hidden: params.pixHidden, out: params.pixDim, batchNorm: true },
            0,
            'pixpro_pix',
          ),
        ],
        [
          'pix',
          'pix',
          buildMlpHead(
            F,
            { layers: 2, hidden: params.pixHidden, out: params.pixDim, batchNorm: true },
            0,
            'pixpro_pix',
          ),
        ],
        [
          'transform',
          'transform',
          params.ppmLayers > 0
            ? buildMlpHead(
                params.pixDim,
                { layers: params.ppmLayers, hidden: params.pixDim, out: params.pixDim, batchNorm: true },
                0,
                'pixpro_transform',
              )
            : null,
        ],
        [
          'predictor',
          'predictor',
          params.alpha > 0 ? buildPredictor(D, params.predHidden, 0, 'pixpro_predictor') : null,
        ],
      ];
      const encoderNames = [
        ...network.backbone.weights.map((w) => `backbone/${w.originalName}`),
        ...network.projector.weights.map((w) => `projector/${w.originalName}`),
      ];
      const stateNames = (state: Record<string, tf.Tensor>) => {
        const names: Record<string, string> = {};
        encoderNames.forEach((name, k) => (names[`target.${k}`] = `target/${name}`));
        for (const [key, prefix, head] of heads)
          head?.weights.forEach((w, k) => (names[`${key}.${k}`] = `${prefix}/${w.originalName}`));
        expect(Object.keys(names).sort()).toEqual(Object.keys(state).sort());
        return names;
      };
      const state = module.getState!();
      const names = stateNames(state);
      const perturbed = Object.fromEntries(
        Object.entries(state).map(([key, t]) => {
          if (key.startsWith('target.')) return [key, t.clone()];
          const u = Float32Array.from({ length: t.size }, () => rng.uniform(-1, 1));
          return [
            key,
            tf.tidy(() =>
              tf.add(
                tf.mul(t, tf.add(1, tf.mul(tf.tensor(u, t.shape), 0.3))),
                tf.mul(tf.tensor(u, t.shape), 0.05),
              ),
            ),
          ];
        }),
      );
      module.setState!(perturbed);
      for (const [key, t] of Object.entries(perturbed))
        tensors.push(await tensorEntry(`${i}/${names[key]}`, t));
      tf.dispose([...Object.values(state), ...Object.values(perturbed)]);

      const named = [
        ...network.backbone.trainableWeights.map((w) => ({
          name: `backbone/${w.originalName}`,
          variable: w.read() as tf.Variable,
        })),
        ...network.projector.trainableWeights.map((w) => ({
          name: `projector/${w.originalName}`,
          variable: w.read() as tf.Variable,
        })),
      ];
      const headNames = heads
        .slice(1)
        .flatMap(([, prefix, head]) =>
          head ? head.trainableWeights.map((w) => `${prefix}/${w.originalName}`) : [],
        );
      module.trainableVariables!.forEach((variable, k) => named.push({ name: headNames[k], variable }));
      expect(named).toHaveLength(new Set(named.map((v) => v.name)).size);
      const { value, grads } = tf.variableGrads(
        () => {
          const { h, z, maps } = module.forwardViews!(images);
          return module.compute({ views: z, features: h, images, maps, geometry });
        },
        named.map((v) => v.variable),
      );
      const byName: Record<string, Float32Array> = {};
      for (const { name, variable } of named)
        byName[name] = grads[variable.name]
          ? ((await grads[variable.name].data()) as Float32Array)
          : new Float32Array(variable.size);
      module.afterStep!({ step, totalSteps });
      const after = module.getState!();
      const target: Record<string, Float32Array> = {};
      for (const [key, t] of Object.entries(after))
        if (key.startsWith('target')) target[names[key]] = (await t.data()) as Float32Array;
      const side = network.forwardSpatial(images[0], false).map;
      const [, mh, mw] = side.shape;
      expected[c.name] = {
        value: (await value.data())[0],
        grads: byName,
        masks: correspondenceMasks(geometry[0], geometry[1], mh, mw, params.T),
        target,
      };
      tf.dispose([value, side, ...Object.values(grads), ...Object.values(after)]);
      heads.forEach(([, , head]) => head?.dispose());
      module.dispose();
      network.dispose();
    }
    await writeFile(
      path.join(dir, 'pixpro.safetensors'),
      writeSafetensors(tensors, {
        cases: JSON.stringify(caseConfigs),
        image_shape: JSON.stringify(imageShape),
      }),
    );
    const py = await check<
      Record<
        string,
        { value: number; grads: Record<string, number[]>; masks: number[]; target: Record<string, number[]> }
      >
    >('pixpro', [dir]);
    for (const c of cases) {
      const ts = expected[c.name];
      const result = py[c.name];
      expect(result.masks, `${c.name} pixel pairs`).toEqual(Array.from(ts.masks));
      expectValueAndGradients(c.name, result, ts);
      expect(Object.keys(result.target).sort()).toEqual(Object.keys(ts.target).sort());
      let targetDifference = 0;
      for (const [name, values] of Object.entries(ts.target))
        targetDifference = Math.max(targetDifference, maxAbsDifference(result.target[name], values));
      measured[`${c.name} target after the update`] = targetDifference;
      expect(targetDifference, `${c.name} target`).toBeLessThan(1e-5);
    }
    // the pairs differ from image to image: some images have none, others several
    const counts = Array.from({ length: N }, (_, n) => {
      const cells = Math.sqrt(expected[cases[0].name].masks.length / N);
      return expected[cases[0].name].masks
        .slice(n * cells * cells, (n + 1) * cells * cells)
        .reduce((a, b) => a + b, 0);
    });
    expect(counts.some((k) => k === 0) && counts.some((k) => k > 1)).toBe(true);
    tf.dispose([source, ...drawn.views, ...images]);
  });

  it("(h) cmim's loss and gradients (encoder, variance head, decoder) equal the engine's within 1e-4 on the clean images, with the engine's noise, and its informative embeddings", async () => {
    const dir = await tempDir();
    const N = 6;
    const rng = new Rng(61);
    const cases: {
      name: string;
      imageShape: [number, number, number];
      params: Record<string, number>;
      draws: number;
    }[] = [
      { name: 'cmim', imageShape: [8, 8, 3], params: { decoderWidth: 4 }, draws: 0 },
      // 7 x 7: the decoder's 8 x 8 output cropped; a later noise draw; a heavier contrastive term
      {
        name: 'cmim 7x7 grayscale, lambda 2.5, tau 0.5, draw 5',
        imageShape: [7, 7, 1],
        params: { decoderWidth: 3, lambda: 2.5, tau: 0.5 },
        draws: 4,
      },
      {
        name: 'cmim without the contrastive term',
        imageShape: [8, 8, 3],
        params: { decoderWidth: 4, lambda: 0 },
        draws: 1,
      },
    ];
    const seed = 7;
    const tensors: SafetensorsTensor[] = [];
    const caseConfigs: {
      name: string;
      config: RunConfig;
      imageShape: number[];
      step: number;
      seed: number;
    }[] = [];
    const expected: Record<
      string,
      { value: number; grads: Record<string, Float32Array>; noise: Float32Array; informative: Float32Array }
    > = {};
    for (const [i, c] of cases.entries()) {
      const params = { ...defaultParams('cmim'), ...c.params };
      const encoder: EncoderSpec = { type: 'convnet', channels: [4, 6] };
      const projector: ProjectorSpec = { layers: 2, hidden: 8, out: 5, batchNorm: true };
      const config = parseRunConfig({
        encoder,
        projector,
        dataset: { id: 'synthetic' },
        loss: { id: 'cmim', params },
        views: { large: 1 },
      });
      caseConfigs.push({ name: c.name, config, imageShape: c.imageShape, step: c.draws, seed });
      const network = buildNetwork({ encoder, projector, inputShape: c.imageShape, seed: 50 + i });
      scrambleStatistics(network, 60 + i);
      await mkdir(path.join(dir, String(i)));
      await saveNetwork(path.join(dir, String(i), 'model.safetensors'), network, config, c.imageShape);
      const module = createLoss('cmim', params) as CmimModule;
      module.bind?.({
        network,
        totalSteps: 100,
        stepsPerEpoch: 10,
        numClasses: 3,
        seed,
        imageShape: c.imageShape,
      });
      const { logvarHead, decoder } = module.parts!;
      const names: Record<string, string> = {};
      logvarHead.weights.forEach((w, k) => (names[`logvar.${k}`] = `logvar/${w.originalName}`));
      decoder.model.weights.forEach((w, k) => (names[`decoder.${k}`] = `decoder/${w.originalName}`));
      // trained-looking heads: every weight, bias and BatchNorm statistic away from its initial value
      const state = module.getState!();
      const perturbed = Object.fromEntries(
        Object.entries(state).map(([key, t]) => {
          if (key === 'draws') return [key, tf.scalar(c.draws, 'int32')];
          const u = tf.tensor(
            Float32Array.from({ length: t.size }, () => rng.uniform(-1, 1)),
            t.shape,
          );
          return [key, tf.tidy(() => tf.add(tf.mul(t, tf.add(1, tf.mul(u, 0.3))), tf.mul(u, 0.05)))];
        }),
      );
      module.setState!(perturbed);
      for (const [key, t] of Object.entries(perturbed))
        if (key !== 'draws') tensors.push(await tensorEntry(`${i}/${names[key]}`, t));
      tf.dispose([...Object.values(state), ...Object.values(perturbed)]);
      const images = tf.tensor4d(
        Float32Array.from({ length: N * c.imageShape.reduce((a, b) => a * b) }, () => rng.normal()),
        [N, ...c.imageShape],
      );
      tensors.push(await tensorEntry(`${i}/images`, images));

      const named = [
        ...network.backbone.trainableWeights.map((w) => ({
          name: `backbone/${w.originalName}`,
          variable: w.read() as tf.Variable,
        })),
        ...network.projector.trainableWeights.map((w) => ({
          name: `projector/${w.originalName}`,
          variable: w.read() as tf.Variable,
        })),
        ...logvarHead.trainableWeights.map((w) => ({
          name: `logvar/${w.originalName}`,
          variable: w.read() as tf.Variable,
        })),
        ...decoder.model.trainableWeights.map((w) => ({
          name: `decoder/${w.originalName}`,
          variable: w.read() as tf.Variable,
        })),
      ];
      const { value, grads } = tf.variableGrads(
        () => {
          const { h, z } = network.forward(images, true);
          return module.compute({ views: [z], features: [h], images: [images] });
        },
        named.map((v) => v.variable),
      );
      const byName: Record<string, Float32Array> = {};
      for (const { name, variable } of named)
        byName[name] = grads[variable.name]
          ? ((await grads[variable.name].data()) as Float32Array)
          : new Float32Array(variable.size);
      const embedded = network.forward(images, false);
      const informative = module.representation!(images, embedded);
      // the module's noise: draw number draws + 1 of the generator seeded by its third seed fork
      const forks = new Rng(seed);
      forks.fork();
      forks.fork();
      const noiseRng = new Rng((forks.fork() + Math.imul(c.draws + 1, 0x9e3779b1)) >>> 0);
      expected[c.name] = {
        value: (await value.data())[0],
        grads: byName,
        noise: Float32Array.from({ length: N * network.embeddingDim }, () => noiseRng.normal()),
        informative: (await informative.data()) as Float32Array,
      };
      expect(informative.shape).toEqual([N, 4 * params.decoderWidth]);
      tf.dispose([value, images, informative, embedded.h, embedded.z, ...Object.values(grads)]);
      module.dispose();
      network.dispose();
    }
    await writeFile(
      path.join(dir, 'cmim.safetensors'),
      writeSafetensors(tensors, { cases: JSON.stringify(caseConfigs) }),
    );
    const py = await check<
      Record<
        string,
        { value: number; grads: Record<string, number[]>; noise: number[]; informative: number[] }
      >
    >('cmim', [dir]);
    for (const c of cases) {
      const ts = expected[c.name];
      const result = py[c.name];
      measured[`${c.name} noise`] = maxAbsDifference(result.noise, ts.noise);
      expect(measured[`${c.name} noise`], `${c.name} noise`).toBeLessThan(1e-6);
      expectValueAndGradients(c.name, result, ts);
      measured[`${c.name} informative`] = maxAbsDifference(result.informative, ts.informative);
      expect(measured[`${c.name} informative`]).toBeLessThan(1e-4);
    }
  });

  it('(d) the augmentations apply drawn parameters as the playground does (crop, flip, resize, jitter order, hue, grayscale)', async () => {
    const cfg: AugmentConfig = {
      crop: { scale: [0.2, 1], ratio: [3 / 4, 4 / 3] },
      flip: 0.5,
      jitter: { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1, p: 0.8 },
      grayscale: 0.3,
    };
    const runs: { channels: number; dir: string; out: Float32Array }[] = [];
    for (const [channels, outSize] of [
      [3, [8, 6]],
      [1, [12, 10]],
    ] as [number, [number, number]][]) {
      const dir = await tempDir();
      const [n, height, width] = [16, 9, 7];
      const images = tf.randomUniform([n, height, width, channels], 0, 1, 'float32', 5) as tf.Tensor4D;
      const params = sampleAugmentParams(n, height, width, cfg, new Rng(3 + channels));
      expect(
        params.some((p) => p.flip) && params.some((p) => p.jitter) && params.some((p) => p.grayscale),
      ).toBe(true);
      const out = applyAugmentParams(images, params, outSize);
      const ops = ['brightness', 'contrast', 'saturation', 'hue'];
      const column = (f: (p: (typeof params)[number]) => number) => params.map(f);
      const tensors = [
        await tensorEntry('images', images),
        f32(
          'params.top',
          [n],
          column((p) => p.crop.top),
        ),
        f32(
          'params.left',
          [n],
          column((p) => p.crop.left),
        ),
        f32(
          'params.height',
          [n],
          column((p) => p.crop.height),
        ),
        f32(
          'params.width',
          [n],
          column((p) => p.crop.width),
        ),
        i32(
          'params.flip',
          [n],
          column((p) => Number(p.flip)),
        ),
        i32(
          'params.jitter',
          [n],
          column((p) => Number(p.jitter !== null)),
        ),
        i32(
          'params.order',
          [n, 4],
          params.flatMap((p) => (p.jitter ? p.jitter.order.map((op) => ops.indexOf(op)) : [0, 1, 2, 3])),
        ),
        f32(
          'params.brightness',
          [n],
          column((p) => p.jitter?.brightness ?? 1),
        ),
        f32(
          'params.contrast',
          [n],
          column((p) => p.jitter?.contrast ?? 1),
        ),
        f32(
          'params.saturation',
          [n],
          column((p) => p.jitter?.saturation ?? 1),
        ),
        f32(
          'params.hue',
          [n],
          column((p) => p.jitter?.hue ?? 0),
        ),
        i32(
          'params.grayscale',
          [n],
          column((p) => Number(p.grayscale)),
        ),
      ];
      await writeFile(
        path.join(dir, 'augment.safetensors'),
        writeSafetensors(tensors, { out_size: JSON.stringify(outSize) }),
      );
      runs.push({ channels, dir, out: (await out.data()) as Float32Array });
      tf.dispose([images, out]);
    }
    const py = await check<{ images: number[] }[]>(
      'augment',
      runs.map((r) => r.dir),
    );
    runs.forEach(({ channels, out }, i) => {
      const difference = maxAbsDifference(py[i].images, out);
      measured[`augment ${channels} channel(s)`] = difference;
      expect(difference).toBeLessThan(1e-5);
    });
  });

  it('config.py reads the RunConfig as config.ts does: the same defaults, loss catalogue and refusals, and it refuses unknown fields', async () => {
    const bad = { optimizer: { lr: -1 }, loss: { id: 'dcl', params: { tau: 100 } }, views: { large: 3 } };
    const badLoss = { loss: { id: 'dcl', params: { tau: 100 } }, views: { large: 3 } };
    const unknown = { optimizer: { lrr: 0.1 } };
    const badPixels = {
      loss: { id: 'pixpro' },
      encoder: { type: 'mlp', hidden: [8] },
      views: { large: 1, small: 1 },
      nn: { batchNormViews: 'per-view' },
    };
    // a complete config from the playground passes through unchanged
    const full = parseRunConfig({
      loss: { id: 'swav' },
      views: { large: 2, small: 2 },
      encoder: { type: 'convnet', channels: [8] },
      dataset: { standardize: 'none' },
      nn: { init: 'torch', padding: 'symmetric', batchNormViews: 'per-view' },
    });
    const noTarget = { loss: { id: 'supremix' } };
    const regression = parseRunConfig({
      loss: { id: 'supremix', params: { window: 3 } },
      dataset: { id: 'synthetic', target: 'size', maxRotation: 30 },
    });
    const py = await check<{
      defaults: RunConfig;
      losses: Record<string, unknown>;
      parsed: { ok: boolean; error?: string; config?: RunConfig }[];
      refused: Record<string, string | null>;
    }>('config', [JSON.stringify([bad, badLoss, unknown, full, badPixels, noTarget, regression])]);
    expect(py.defaults).toEqual(defaultRunConfig());
    // the losses without a PyTorch version: the same list, and train.py's objective refuses each by name
    expect(Object.keys(py.refused)).toEqual([...NOT_IN_PYTORCH]);
    for (const [id, message] of Object.entries(py.refused)) {
      expect(message).toBe(
        `loss '${id}' (${LOSS_CATALOG[id as LossId].name}) has no PyTorch implementation in this project, so ` +
          'train.py cannot train or resume it; the exported model.safetensors still loads with ' +
          'model.load_pretrained (features, embed.py); train it in the playground (npm run train)',
      );
    }
    const catalogue = Object.fromEntries(
      Object.values(LOSS_CATALOG).map((info) => [
        info.id,
        {
          minViews: info.minViews,
          maxViews: info.maxViews === Infinity ? null : info.maxViews,
          needsLabels: info.needsLabels,
          params: Object.fromEntries(
            Object.entries(info.params).map(([name, spec]) => [
              name,
              {
                default: spec.default,
                min: spec.min,
                max: spec.max,
                integer: spec.integer ?? false,
                exclusiveMin: spec.exclusiveMin ?? false,
              },
            ]),
          ),
        },
      ]),
    );
    expect(py.losses).toEqual(catalogue);
    expect(() => parseRunConfig(bad)).toThrow(/optimizer\.lr/);
    expect(py.parsed[0].ok).toBe(false);
    expect(py.parsed[0].error).toContain('optimizer.lr: must be > 0 (got -1)');
    expect(py.parsed[1].error).toContain(
      "loss.params.tau: loss 'dcl' needs a number in [0.01, 10] (got 100)",
    );
    expect(py.parsed[1].error).toContain("views: loss 'dcl' needs 2 views in total, the config gives 3");
    expect(py.parsed[2].error).toContain('optimizer.lrr: unknown field');
    expect(py.parsed[3]).toEqual({ ok: true, config: full });
    // the pixel-pair checks word for word as config.ts words them
    const tsProblems = (() => {
      try {
        parseRunConfig(badPixels);
        return [];
      } catch (error) {
        return (error as Error).message.split('\n').filter((line) => line.includes("loss 'pixpro'"));
      }
    })();
    expect(tsProblems).toHaveLength(3);
    for (const line of tsProblems) expect(py.parsed[4].error).toContain(line.replace(/^\s*-\s*/, ''));
    expect(() => parseRunConfig(noTarget)).toThrow(/dataset\.target: loss 'supremix' regresses/);
    expect(py.parsed[5].error).toContain(
      "dataset.target: loss 'supremix' regresses a continuous target per image; set dataset.target to 'rotation'",
    );
    expect(py.parsed[6]).toEqual({ ok: true, config: regression });
  });

  it("data.py makes dataset.target's splits as the engine does: rotated images byte for byte, their angles, the shapes' size", async () => {
    const options = { seed: 3, classes: 3, trainCount: 24, testCount: 8, size: 9, channels: 3, noise: 0.06 };
    const dataset = syntheticDataset(options);
    const splits = { train: await dataset.train(), test: await dataset.test() };
    const hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
    const specs = [
      { target: 'rotation', maxRotation: 45 },
      { target: 'rotation', maxRotation: 180 },
      { target: 'size', maxRotation: 45 },
    ] as const;
    const seed = 11;
    const py = await check<Record<'train' | 'test', { images: string; targets: number[] }>[]>('targets', [
      JSON.stringify(options),
      JSON.stringify(specs),
      String(seed),
    ]);
    specs.forEach((spec, i) => {
      const ts = applyTarget(splits, [options.size, options.size, options.channels], spec, seed);
      for (const name of ['train', 'test'] as const) {
        expect(py[i][name].targets, `${spec.target} ${name} targets`).toEqual(
          Array.from(ts[name].targets ?? []),
        );
        expect(py[i][name].images, `${spec.target} ${name} images`).toBe(hex(ts[name].images));
      }
      // rotation changes the pixels, so equal hashes are not two copies of the input
      if (spec.target === 'rotation') expect(hex(ts.train.images)).not.toBe(hex(splits.train.images));
    });
  });

  it("data.py generates the playground's synthetic dataset byte for byte", async () => {
    const options = { seed: 5, classes: 4, trainCount: 48, testCount: 16, size: 8, channels: 3, noise: 0.06 };
    const dataset = syntheticDataset(options);
    const [train, test] = [await dataset.train(), await dataset.test()];
    const hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
    const py = await check<{ train: string; test: string; labels: number[] }>('synthetic', [
      JSON.stringify(options),
    ]);
    expect(py.labels).toEqual(Array.from(train.labels));
    expect(py.train).toBe(hex(train.images));
    expect(py.test).toBe(hex(test.images));
  });
});

function defaultParams(id: LossId): Record<string, number> {
  return Object.fromEntries(
    Object.entries(LOSS_CATALOG[id].params).map(([name, spec]) => [name, spec.default]),
  );
}
