import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { buildMlpHead } from '../nn/heads';
import { createNetwork } from '../nn/network';
import type { Network } from '../nn/types';
import { embeddedRunConfig, exportSafetensors, exportTfjs, importWeights } from './export';
import { readSafetensors, writeSafetensors } from './safetensors';

const IMAGE_SHAPE: [number, number, number] = [4, 4, 1];
const runConfig = {
  seed: 3,
  loss: { name: 'infonce', temperature: 0.2 },
  encoder: 'test-dense',
  augment: ['flip'],
};

/** A small dense backbone (flatten -> Linear -> BN -> ReLU) + a 2-layer BN projector; init depends on `seed`. */
function testNetwork(seed: number, width = 8): Network {
  return createNetwork(() => {
    const images = tf.input({ shape: IMAGE_SHAPE, name: 'bb_in' });
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
  it('saves one LayersModel images -> [h, z] that tf.loadLayersModel loads with identical outputs and the run config', async () => {
    const network = testNetwork(1);
    scrambleWeights(network, 10);
    const images = testImages();
    const expected = await outputsOf(network, images);

    const { modelJson, weightsBin } = await exportTfjs(network, runConfig);
    expect(modelJson.weightsManifest[0].paths).toEqual(['weights.bin']);
    expect(modelJson.userDefinedMetadata).toEqual({ run_config: runConfig });
    expect(embeddedRunConfig({ kind: 'tfjs', modelJson, weightsBin })).toEqual(runConfig);

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
    const [h, z] = loaded.predict(images) as tf.Tensor[];
    expect(Array.from(await h.data())).toEqual(Array.from(expected.h));
    expect(Array.from(await z.data())).toEqual(Array.from(expected.z));
    // Every weight made it, BatchNorm moving statistics included.
    expect(loaded.weights.length).toBe(network.allWeights.length);

    tf.dispose([h, z, images]);
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
    const { modelJson, weightsBin } = await exportTfjs(source, runConfig);
    await importWeights(target, { kind: 'tfjs', modelJson, weightsBin });
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    // Exporting again (every checkpoint does) gives the same files and leaves the source network as it was.
    const again = await exportTfjs(source, runConfig);
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
    const bytes = await exportSafetensors(network, runConfig);
    expect(tf.memory().numTensors).toBe(tensorsBefore);

    const file = readSafetensors(bytes);
    expect(JSON.parse(file.metadata.run_config)).toEqual(runConfig);
    expect(embeddedRunConfig({ kind: 'safetensors', bytes })).toEqual(runConfig);
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
    await importWeights(target, { kind: 'safetensors', bytes: await exportSafetensors(source, runConfig) });
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
    const bytes = await exportSafetensors(narrow, runConfig);
    await expect(importWeights(wide, { kind: 'safetensors', bytes })).rejects.toThrow(
      'weights file is for a different encoder: backbone/bb_fc/kernel has shape [16,8], the run expects [16,12]',
    );
    const { modelJson, weightsBin } = await exportTfjs(narrow, runConfig);
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
    const file = readSafetensors(await exportSafetensors(network, runConfig));
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
    const file = readSafetensors(await exportSafetensors(source, runConfig));
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
    const { modelJson, weightsBin } = await exportTfjs(source, runConfig);
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
    const { modelJson, weightsBin } = await exportTfjs(network, runConfig);
    await expect(
      importWeights(network, { kind: 'tfjs', modelJson, weightsBin: weightsBin.slice(4) }),
    ).rejects.toThrow(/weights.bin has \d+ bytes but model.json's manifest describes \d+/);
    network.dispose();
  });

  it('refuses a run config that is not JSON', async () => {
    const network = testNetwork(1);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(exportSafetensors(network, cyclic)).rejects.toThrow(/run config cannot be saved as JSON/);
    await expect(exportTfjs(network, undefined)).rejects.toThrow(/run config cannot be saved as JSON/);
    network.dispose();
  });
});
