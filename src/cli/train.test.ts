import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './cli_testing';
import { readSafetensors } from '../engine/safetensors';
import { applyOverrides, TRAIN_OPTIONS } from './train';

const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

const train = (args: string[]) => runCli('train.ts', args);

describe('npm run train', () => {
  it('--help documents every option of the option table', async () => {
    const { code, stdout } = await train(['--help']);
    expect(code).toBe(0);
    for (const name of Object.keys(TRAIN_OPTIONS)) expect(stdout).toContain(`--${name}`);
  });

  it('trains headless and writes metrics, a loadable TF.js model, safetensors and a checkpoint that resumes', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'train-cli-'));
    dirs.push(out);
    const { code, stderr } = await train([
      '--config',
      'examples/quick-synthetic.json',
      '--set',
      'epochs=0.5',
      '--out',
      out,
      '--threads',
      '2',
      '--quiet',
    ]);
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(
      /backend: wasm \(2 threads\); project kernels: OneHot, UnsortedSegmentSum, Conv2DBackpropFilter, Conv2DBackpropInput, Conv2D, FusedConv2D, GatherV2, Identity, Cast, Sum, Mean, Multiply, Add, Sub, FusedBatchNorm, Tile, BatchMatMul, ProjectAdamStep, ProjectReluGrad, ProjectBatchNormGradSums, ProjectBatchNormDx, ProjectMoments, ProjectColorJitter, gradient:FusedBatchNorm/,
    );
    expect(stderr).toMatch(/network: backbone [\d,]+ params/);

    const events = (await readFile(path.join(out, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const steps = events.filter((e) => e.type === 'step');
    expect(steps).toHaveLength(4);
    expect(events.filter((e) => e.type === 'eval').at(-1).step).toBe(4);
    expect(events.at(-1)).toMatchObject({ type: 'finished', reason: 'completed' });

    const modelJson = JSON.parse(await readFile(path.join(out, 'model.json'), 'utf8'));
    const weights = await readFile(path.join(out, 'weights.bin'));
    const model = await tf.loadLayersModel(
      tf.io.fromMemory({
        ...modelJson,
        weightSpecs: modelJson.weightsManifest[0].weights,
        weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
      }),
    );
    const [h, z] = model.predict(tf.zeros([2, 16, 16, 3])) as tf.Tensor[];
    expect(h.shape).toEqual([2, 16]);
    expect(z.shape).toEqual([2, 16]);
    tf.dispose([h, z]);
    model.dispose();
    expect(modelJson.userDefinedMetadata.run_config.loss.id).toBe('ntxent');

    const safetensors = readSafetensors(new Uint8Array(await readFile(path.join(out, 'model.safetensors'))));
    expect(JSON.parse(safetensors.metadata.run_config).epochs).toBe(0.5);

    // resume the finished checkpoint with more epochs: it continues from step 4
    const resumed = await train([
      '--config',
      'examples/quick-synthetic.json',
      '--set',
      'epochs=0.75',
      '--out',
      out,
      '--quiet',
      '--resume',
      path.join(out, 'checkpoint.safetensors'),
    ]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resumed from step 4/);
    const more = (await readFile(path.join(out, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(more.filter((e) => e.type === 'step').map((e) => e.step)).toEqual([5, 6]);
  });

  it('refuses a bad config with every problem listed and exit code 2', async () => {
    const { code, stderr } = await train([
      '--config',
      'examples/quick-synthetic.json',
      '--set',
      'batchSize=1',
      '--set',
      'loss.params.tau=-1',
    ]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/batchSize/);
    expect(stderr).toMatch(/tau must be in \[0\.01, 10\]/);
  });

  it('refuses an unknown --kernels choice with exit code 2', async () => {
    const { code, stderr } = await train(['--config', 'examples/quick-synthetic.json', '--kernels', 'fast']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--kernels must be project or stock, got "fast"/);
  });

  it('--backend webgpu trains on WebGPU through Dawn (installed by the CLI), not on a fall-back', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'train-cli-webgpu-'));
    dirs.push(out);
    const { code, stderr } = await train([
      '--config',
      'examples/quick-synthetic.json',
      '--set',
      'epochs=0.25',
      '--backend',
      'webgpu',
      '--out',
      out,
      '--quiet',
    ]);
    expect(code, stderr).toBe(0);
    expect(stderr).not.toMatch(/backend webgpu skipped/);
    expect(stderr).toMatch(/backend: webgpu \(.+\); project kernels: .*ProjectFusedNtxentTwoView/);
    const finished = (await readFile(path.join(out, 'metrics.jsonl'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; backend?: string });
    expect(finished.find((e) => e.type === 'started')?.backend).toBe('webgpu');
    expect(finished.at(-1)?.type).toBe('finished');
  });

  it('refuses a --threads outside 1..8 with exit code 2, naming the range', async () => {
    const { code, stderr } = await train(['--config', 'examples/quick-synthetic.json', '--threads', '12']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--threads: .*threads must be an integer from 1 to 8/);
  });

  it('applyOverrides sets nested paths and parses JSON values', () => {
    expect(applyOverrides({ a: { b: 1 } }, ['a.b=2', 'a.c="x"', 'd=[1,2]', 'e=plain'])).toEqual({
      a: { b: 2, c: 'x' },
      d: [1, 2],
      e: 'plain',
    });
    expect(() => applyOverrides({}, ['novalue'])).toThrow(/PATH=VALUE/);
  });
});
