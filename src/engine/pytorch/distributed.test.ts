// The generated project trains a run exported from the engine under torchrun: 2 gloo processes follow the
// 1-process loss curve, and what it writes loads back into the engine and the TF.js export.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { parseRunConfig } from '../config';
import { openDataset } from '../data/index';
import { embeddedPreprocessing, exportSafetensors, exportTfjs, importWeights } from '../export';
import { readSafetensors, writeSafetensors } from '../safetensors';
import { Trainer } from '../trainer';
import { tinyConfig } from '../trainer_testing';
import { readProjectSources } from './node_sources';
import { buildPytorchProject } from './project';
import { check, maxAbsDifference, PYTHON, runCommand, SKIP_REASON, TORCH, TORCHRUN } from './python_testing';

const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

const lossCurve = async (file: string) =>
  (await readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { step: number; loss: number });

describe.skipIf(!TORCH.ok)(`train.py under torchrun${SKIP_REASON}`, () => {
  it('(c) 2 gloo processes with global batch B follow the 1-process curve at batch B, continuing an engine run; the result loads back', async () => {
    // a run trained by the engine for 2 of its 8 steps, exported as the app exports it
    // SGD: its steps scale with the gradient (Adam's would hide a gradient off by a factor of world_size)
    const config = parseRunConfig(
      tinyConfig({ name: 'ddp check', epochs: 1, seed: 4, optimizer: { type: 'sgd', lr: 0.05 } }),
    );
    const dataset = await openDataset({ id: 'synthetic', seed: config.seed, ...config.dataset.synthetic });
    const trainer = await Trainer.create(config, { dataset, onEvent: () => undefined });
    expect(await trainer.run({ untilStep: 2 })).toBe('yielded');
    const info = { preprocessing: trainer.preprocessing, step: trainer.step };
    const weights = await exportSafetensors(trainer.network, config, info);
    const dir = await mkdtemp(path.join(tmpdir(), 'pytorch-ddp-'));
    dirs.push(dir);
    for (const file of buildPytorchProject({ weights, sources: await readProjectSources() })) {
      await writeFile(path.join(dir, file.name), file.bytes);
    }

    const args = (out: string) =>
      ['train.py', '--config', 'run.json', '--resume', 'model.safetensors', '--max-steps', '4'].concat([
        '--device',
        'cpu',
        '--out',
        out,
      ]);
    const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1', OMP_NUM_THREADS: '1' };
    await runCommand(PYTHON, args('one'), { cwd: dir, env });
    // --redirects 1 --tee 1: torchrun of torch 1.13 under Python 3.11 (Debian 12) fails on its own defaults
    const log = await runCommand(
      TORCHRUN,
      ['--standalone', '--nproc_per_node', '2', '--redirects', '1', '--tee', '1', ...args('two')],
      { cwd: dir, env, timeoutMs: 180_000 },
    );
    expect(log).toContain('2 process(es) on cpu, 4 images each');
    const one = await lossCurve(path.join(dir, 'one', 'metrics.jsonl'));
    const two = await lossCurve(path.join(dir, 'two', 'metrics.jsonl'));
    expect(one.map((e) => e.step)).toEqual([3, 4, 5, 6]);
    expect(two.map((e) => e.step)).toEqual([3, 4, 5, 6]);
    const difference = maxAbsDifference(
      one.map((e) => e.loss),
      two.map((e) => e.loss),
    );
    console.log(
      `loss curves, steps 3-6: 1 process ${JSON.stringify(one.map((e) => e.loss))}, ` +
        `2 processes ${JSON.stringify(two.map((e) => e.loss))}, max difference ${difference}`,
    );
    expect(difference).toBeLessThan(1e-4);
    // the curve moves, so equal curves are not two copies of a constant
    expect(Math.max(...one.map((e) => e.loss)) - Math.min(...one.map((e) => e.loss))).toBeGreaterThan(1e-3);

    // train.py's model.safetensors is a playground export: it imports into the engine, with the run's
    // preprocessing and step, and the TF.js model made from it gives PyTorch's h and z
    const trained = new Uint8Array(await readFile(path.join(dir, 'two', 'model.safetensors')));
    const metadata = readSafetensors(trained).metadata;
    expect(metadata.step).toBe('6');
    expect(JSON.parse(metadata.run_config)).toEqual(config);
    expect(embeddedPreprocessing({ kind: 'safetensors', bytes: trained })).toEqual(
      embeddedPreprocessing({ kind: 'safetensors', bytes: weights }),
    );
    await importWeights(trainer.network, { kind: 'safetensors', bytes: trained });
    const { modelJson, weightsBin } = await exportTfjs(trainer.network, config, info);
    const artifacts = await tf.io.getModelArtifactsForJSON(
      JSON.parse(JSON.stringify(modelJson)) as tf.io.ModelJSON,
      async (manifest) => [manifest.flatMap((group) => group.weights), weightsBin.slice(0)],
    );
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    const test = await dataset.test();
    const pixels = tf.tensor4d(test.images.slice(0, 8 * 8 * 8 * 3), [8, 8, 8, 3], 'float32');
    const [h, z] = loaded.predict(pixels) as tf.Tensor[];
    await writeFile(
      path.join(dir, 'two', 'pixels.safetensors'),
      writeSafetensors([
        { name: 'pixels', dtype: 'F32', shape: [8, 8, 8, 3], data: (await pixels.data()) as Float32Array },
      ]),
    );
    const [py] = await check<{ h: number[]; z: number[] }[]>('model', [path.join(dir, 'two')], dir);
    expect(maxAbsDifference(py.h, await h.data())).toBeLessThan(1e-4);
    expect(maxAbsDifference(py.z, await z.data())).toBeLessThan(1e-4);
    tf.dispose([pixels, h, z]);
    loaded.dispose();
    trainer.dispose();
  });
});
