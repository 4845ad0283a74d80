import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { buildMlpHead } from '../nn/heads';
import { createNetwork } from '../nn/network';
import type { Network } from '../nn/types';
import {
  embeddedPreprocessing,
  embeddedRunConfig,
  exportSafetensors,
  exportTfjs,
  importWeights,
  preprocessingMetadata,
  type ExportInfo,
} from './export';
import { readSafetensors, writeSafetensors } from './safetensors';

const IMAGE_SHAPE: [number, number, number] = [4, 4, 1];
const runConfig = {
  seed: 3,
  loss: { name: 'infonce', temperature: 0.2 },
  encoder: 'test-dense',
  augment: ['flip'],
};

/** The input standardisation the test exports record (one channel). */
const info: ExportInfo = { preprocessing: { imageShape: IMAGE_SHAPE, mean: [0.3], std: [0.2] }, step: 7 };

/** A small dense backbone (flatten -> Linear -> BN -> ReLU) + a 2-layer BN projector; init depends on `seed`. */
function testNetwork(seed: number, width = 8, imageShape: [number, number, number] = IMAGE_SHAPE): Network {
  return createNetwork(() => {
    const images = tf.input({ shape: imageShape, name: 'bb_in' });
    let x = tf.layers.flatten({ name: 'bb_flat' }).apply(images) as tf.SymbolicTensor;
    x = tf.layers
      .dense({ units: width, kernelInitializer: tf.initializers.heUniform({ seed }), name: 'bb_fc' })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: 'bb_bn' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ name: 'bb_relu' }).apply(x) as tf.SymbolicTensor;
    const backbone = tf.model({ inputs: images, outputs: x, name: 'backbone' });
    const projector = buildMlpHead(
      width,
      { layers: 2, hidden: 6, out: 3, batchNorm: true },
      seed + 100,
      'proj',
    );
    return { backbone, projector };
  });
}

/** Gives every weight (BN moving stats included) distinctive values, so an export that drops any shows up. */
function scrambleWeights(network: Network, seed: number): void {
  network.allWeights.forEach((weight, i) => {
    const value = tf.tidy(() => {
      const noise = tf.randomUniform(weight.shape as number[], 0.2, 1.5, 'float32', seed + i);
      return weight.originalName.endsWith('moving_variance') ? noise : tf.sub(noise, 0.8);
    });
    weight.write(value);
    value.dispose();
  });
}

async function outputsOf(
  network: Network,
  images: tf.Tensor4D,
): Promise<{ h: Float32Array; z: Float32Array }> {
  const { h, z } = network.forward(images, false);
  const values = { h: (await h.data()) as Float32Array, z: (await z.data()) as Float32Array };
  tf.dispose([h, z]);
  return values;
}

/** The network's h and z on `images` equal `expected` exactly (same weights, same ops, same backend). */
async function expectOutputs(
  network: Network,
  images: tf.Tensor4D,
  expected: { h: Float32Array; z: Float32Array },
) {
  const actual = await outputsOf(network, images);
  expect(Array.from(actual.h)).toEqual(Array.from(expected.h));
  expect(Array.from(actual.z)).toEqual(Array.from(expected.z));
}

const testImages = () => tf.randomUniform([5, ...IMAGE_SHAPE], 0, 1, 'float32', 42) as tf.Tensor4D;

describe('exportTfjs', () => {
  it('saves one LayersModel pixels -> [h, z] that tf.loadLayersModel loads, standardising like the trainer', async () => {
    const rgb: [number, number, number] = [4, 4, 3];
    const network = testNetwork(1, 8, rgb);
    scrambleWeights(network, 10);
    const preprocessing = { imageShape: rgb, mean: [0.2, 0.5, 0.7], std: [0.1, 0.3, 0.25] };
    // Raw pixels as the datasets hold them, and what the trainer feeds the network: (pixels / 255 - mean) / std.
    const pixels = tf.floor(tf.randomUniform([5, ...rgb], 0, 256, 'float32', 42)) as tf.Tensor4D;
    const standardized = tf.div(
      tf.sub(tf.div(pixels, 255), preprocessing.mean),
      preprocessing.std,
    ) as tf.Tensor4D;
    const expected = await outputsOf(network, standardized);

    const { modelJson, weightsBin } = await exportTfjs(network, runConfig, { preprocessing, step: 12 });
    expect(modelJson.weightsManifest[0].paths).toEqual(['weights.bin']);
    expect(modelJson.userDefinedMetadata).toEqual({
      run_config: runConfig,
      preprocessing: preprocessingMetadata(preprocessing),
      step: 12,
    });
    expect(embeddedRunConfig({ kind: 'tfjs', modelJson, weightsBin })).toEqual(runConfig);
    expect(embeddedPreprocessing({ kind: 'tfjs', modelJson, weightsBin })).toMatchObject({
      value_range: [0, 255],
      image_size: [4, 4],
      channels: 3,
      mean: preprocessing.mean,
      std: preprocessing.std,
    });

    // The full JSON-file path: stringify model.json as it would be written, then load from memory.
    const reread = JSON.parse(JSON.stringify(modelJson)) as tf.io.ModelJSON;
    const artifacts = await tf.io.getModelArtifactsForJSON(reread, async (manifest) => [
      manifest.flatMap((group) => group.weights),
      weightsBin.slice(0),
    ]);
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    expect(loaded.outputs.map((o) => o.shape)).toEqual([
      [null, 8],
      [null, 3],
    ]);
    // The standardisation is a stock Rescaling layer right after the input (no custom class to register).
    expect(loaded.layers[1].getClassName()).toBe('Rescaling');
    expect(loaded.layers[1].name).toBe('input_standardize');
    const [h, z] = loaded.predict(pixels) as tf.Tensor[];
    // x * (1 / (255 std)) - mean / std rounds differently from (x / 255 - mean) / std: float32 error only.
    const close = (actual: Float32Array, wanted: Float32Array) =>
      actual.forEach((v, i) =>
        expect(Math.abs(v - wanted[i])).toBeLessThan(1e-4 * (1 + Math.abs(wanted[i]))),
      );
    close((await h.data()) as Float32Array, expected.h);
    close((await z.data()) as Float32Array, expected.z);
    // Without the standardisation the outputs would be far off: the check above can tell.
    const [, zRaw] = loaded.predict(tf.div(pixels, 255)) as tf.Tensor[];
    expect(Math.max(...Array.from(await tf.abs(tf.sub(zRaw, z)).data()))).toBeGreaterThan(1e-2);
    // Every weight made it, BatchNorm moving statistics included.
    expect(loaded.weights.length).toBe(network.allWeights.length);

    tf.dispose([h, z, zRaw, pixels, standardized]);
    loaded.dispose();
    network.dispose();
  });

  it('round-trips through importWeights into a freshly built network', async () => {
    const source = testNetwork(1);
    scrambleWeights(source, 20);
    const target = testNetwork(2); // same architecture, different init, variable names get _1 suffixes
    const images = testImages();
    const expected = await outputsOf(source, images);
    expect(Array.from((await outputsOf(target, images)).z)).not.toEqual(Array.from(expected.z));

    const tensorsBefore = tf.memory().numTensors;
    const { modelJson, weightsBin } = await exportTfjs(source, runConfig, info);
    await importWeights(target, { kind: 'tfjs', modelJson, weightsBin });
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    // Exporting again (every checkpoint does) gives the same files and leaves the source network as it was.
    const again = await exportTfjs(source, runConfig, info);
    expect(again.modelJson).toEqual(modelJson);
    expect(new Uint8Array(again.weightsBin)).toEqual(new Uint8Array(weightsBin));
    expect(Array.from((await outputsOf(source, images)).z)).toEqual(Array.from(expected.z));

    await expectOutputs(target, images, expected);
    tf.dispose(images);
    source.dispose();
    target.dispose();
  });
});

describe('exportSafetensors', () => {
  it('names tensors backbone/... and projector/... with the weights values and the run config in metadata', async () => {
    const network = testNetwork(1);
    scrambleWeights(network, 30);
    const tensorsBefore = tf.memory().numTensors;
    const bytes = await exportSafetensors(network, runConfig, info);
    expect(tf.memory().numTensors).toBe(tensorsBefore);

    const file = readSafetensors(bytes);
    expect(JSON.parse(file.metadata.run_config)).toEqual(runConfig);
    expect(embeddedRunConfig({ kind: 'safetensors', bytes })).toEqual(runConfig);
    // The input contract and the step, as the README's "Exports and PyTorch" section lists them.
    expect(file.metadata.format).toBe('contrastive-playground-model');
    expect(file.metadata.step).toBe('7');
    expect(JSON.parse(file.metadata.preprocessing)).toEqual({
      input: 'pixels NHWC',
      value_range: [0, 255],
      image_size: [4, 4],
      channels: 1,
      scale: 1 / 255,
      mean: [0.3],
      std: [0.2],
      formula: 'x[..., c] = (pixels[..., c] / 255 - mean[c]) / std[c]',
    });
    expect(embeddedPreprocessing({ kind: 'safetensors', bytes })).toEqual(
      JSON.parse(file.metadata.preprocessing),
    );
    const names = file.tensors.map((t) => t.name);
    expect(names).toContain('backbone/bb_fc/kernel');
    expect(names).toContain('backbone/bb_bn/moving_variance');
    expect(names).toContain('projector/proj_fc0/kernel');
    expect(names).toContain('projector/proj_fc1/bias');
    expect(names.length).toBe(network.allWeights.length);
    const kernel = file.tensors.find((t) => t.name === 'backbone/bb_fc/kernel')!;
    expect(kernel.shape).toEqual([16, 8]);
    const variable = network.backbone.getLayer('bb_fc').getWeights()[0];
    expect(Array.from(kernel.data)).toEqual(Array.from(await variable.data()));
    network.dispose();
  });

  it('round-trips through importWeights into a freshly built network', async () => {
    const source = testNetwork(1);
    scrambleWeights(source, 40);
    const target = testNetwork(5);
    const images = testImages();
    const expected = await outputsOf(source, images);
    await importWeights(target, {
      kind: 'safetensors',
      bytes: await exportSafetensors(source, runConfig, info),
    });
    await expectOutputs(target, images, expected);
    tf.dispose(images);
    source.dispose();
    target.dispose();
  });
});

describe('importWeights rejects files that do not fit', () => {
  it('names the tensor, the shape found and the shape expected, and changes nothing', async () => {
    const narrow = testNetwork(1, 8);
    const wide = testNetwork(2, 12);
    const before = await Promise.all(wide.allWeights.map(async (w) => Array.from(await w.read().data())));
    const bytes = await exportSafetensors(narrow, runConfig, info);
    await expect(importWeights(wide, { kind: 'safetensors', bytes })).rejects.toThrow(
      'weights file is for a different encoder: backbone/bb_fc/kernel has shape [16,8], the run expects [16,12]',
    );
    const { modelJson, weightsBin } = await exportTfjs(narrow, runConfig, info);
    await expect(importWeights(wide, { kind: 'tfjs', modelJson, weightsBin })).rejects.toThrow(
      /bb_fc\/kernel has shape \[16,8\], the run expects \[16,12\] \(and \d+ more/,
    );
    const after = await Promise.all(wide.allWeights.map(async (w) => Array.from(await w.read().data())));
    expect(after).toEqual(before);
    narrow.dispose();
    wide.dispose();
  });

  it('reports missing and unexpected tensors', async () => {
    const network = testNetwork(1);
    const file = readSafetensors(await exportSafetensors(network, runConfig, info));
    const withoutBias = file.tensors.filter((t) => t.name !== 'projector/proj_fc1/bias');
    await expect(
      importWeights(network, { kind: 'safetensors', bytes: writeSafetensors(withoutBias) }),
    ).rejects.toThrow('projector/proj_fc1/bias is missing from the file, the run expects shape [3]');
    const extra = [
      ...file.tensors,
      { name: 'projector/head/kernel', dtype: 'F32' as const, shape: [1], data: new Float32Array(1) },
    ];
    await expect(
      importWeights(network, { kind: 'safetensors', bytes: writeSafetensors(extra) }),
    ).rejects.toThrow('projector/head/kernel is in the file but not in the run');
    const asInt = file.tensors.map((t) =>
      t.name === 'backbone/bb_fc/bias'
        ? { ...t, dtype: 'I32' as const, data: new Int32Array(t.data.length) }
        : t,
    );
    await expect(
      importWeights(network, { kind: 'safetensors', bytes: writeSafetensors(asInt) }),
    ).rejects.toThrow('backbone/bb_fc/bias is int32, the run expects float32');
    network.dispose();
  });

  it('refuses weights holding NaN or Inf (safetensors and tfjs) and changes nothing', async () => {
    const source = testNetwork(1);
    const target = testNetwork(2);
    const before = await Promise.all(target.allWeights.map(async (w) => Array.from(await w.read().data())));
    const file = readSafetensors(await exportSafetensors(source, runConfig, info));
    const poisoned = file.tensors.map((t) => {
      if (t.name !== 'projector/proj_fc1/kernel') return t;
      const data = Float32Array.from(t.data);
      data[5] = NaN;
      return { ...t, data };
    });
    await expect(
      importWeights(target, { kind: 'safetensors', bytes: writeSafetensors(poisoned, file.metadata) }),
    ).rejects.toThrow(
      /weights file holds NaN or Inf values \(projector\/proj_fc1\/kernel holds NaN at value 5\): it was saved from a run that diverged; nothing was loaded/,
    );
    const { modelJson, weightsBin } = await exportTfjs(source, runConfig, info);
    const floats = new Float32Array(weightsBin.slice(0));
    floats[0] = -Infinity;
    await expect(
      importWeights(target, { kind: 'tfjs', modelJson, weightsBin: floats.buffer }),
    ).rejects.toThrow(/holds -Infinity at value 0/);
    const after = await Promise.all(target.allWeights.map(async (w) => Array.from(await w.read().data())));
    expect(after).toEqual(before);
    source.dispose();
    target.dispose();
  });

  it('rejects malformed files with a clear error', async () => {
    const network = testNetwork(1);
    await expect(
      importWeights(network, { kind: 'safetensors', bytes: new Uint8Array([1, 2, 3]) }),
    ).rejects.toThrow(/8-byte header length/);
    await expect(
      importWeights(network, {
        kind: 'tfjs',
        modelJson: { modelTopology: {} },
        weightsBin: new ArrayBuffer(0),
      }),
    ).rejects.toThrow(/no weightsManifest array/);
    const { modelJson, weightsBin } = await exportTfjs(network, runConfig, info);
    await expect(
      importWeights(network, { kind: 'tfjs', modelJson, weightsBin: weightsBin.slice(4) }),
    ).rejects.toThrow(/weights.bin has \d+ bytes but model.json's manifest describes \d+/);
    network.dispose();
  });

  it('refuses preprocessing that does not fit the image channels or has a zero std', async () => {
    const network = testNetwork(1);
    const imageShape = IMAGE_SHAPE;
    await expect(
      exportSafetensors(network, runConfig, { preprocessing: { imageShape, mean: [0.1, 0.2], std: [0.3] } }),
    ).rejects.toThrow('the preprocessing has 2 means and 1 stds for 1 channels; pass one per channel');
    await expect(
      exportTfjs(network, runConfig, { preprocessing: { imageShape, mean: [0.1], std: [0] } }),
    ).rejects.toThrow(/must be finite with every std > 0/);
    expect(() => preprocessingMetadata({ imageShape: [4, 0, 1], mean: [0], std: [1] })).toThrow(
      /imageShape must be \[height, width, channels\] of positive integers/,
    );
    network.dispose();
  });

  it('refuses a run config that is not JSON', async () => {
    const network = testNetwork(1);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(exportSafetensors(network, cyclic, info)).rejects.toThrow(
      /run config cannot be saved as JSON/,
    );
    await expect(exportTfjs(network, undefined, info)).rejects.toThrow(/run config cannot be saved as JSON/);
    network.dispose();
  });
});
