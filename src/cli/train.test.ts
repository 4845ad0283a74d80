import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './cli_testing';
import { readSafetensors, writeSafetensors } from '../engine/safetensors';
import { parseRunConfig } from '../engine/config';
import { MAX_WASM_THREADS } from '../kernels/wasm/node';
import {
  applyOverrides,
  defaultOutDir,
  RESUME_MUTABLE_FIELDS,
  TRAIN_OPTIONS,
  WASM_THREADS_MAX,
} from './train';

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
    // the history goes on in the same file: steps 1-4 of the first run, then 5 and 6
    expect(more.filter((e) => e.type === 'step').map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(more.filter((e) => e.type === 'resumed')).toEqual([
      { type: 'resumed', step: 4, checkpoint: path.join(out, 'checkpoint.safetensors') },
    ]);
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

  it('states the wasm thread limit the kernels enforce', () => {
    expect(WASM_THREADS_MAX).toBe(MAX_WASM_THREADS);
  });

  it('applyOverrides refuses prototype names and empty path parts', () => {
    for (const bad of ['__proto__.polluted=1', 'optimizer.constructor=1', 'a.prototype.b=2']) {
      expect(() => applyOverrides({}, [bad])).toThrow(
        /is not a config field \(it names an object's prototype\)/,
      );
    }
    for (const bad of ['optimizer..lr=1', '.epochs=1', 'epochs.=1']) {
      expect(() => applyOverrides({}, [bad])).toThrow(/the path has an empty part/);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('the default output folder stays inside out/ whatever the config name says', () => {
    const at = (name: string) => defaultOutDir(parseRunConfig({ name, seed: 3 }));
    for (const name of ['../../etc/evil', '/abs/path', '..', '.hidden', 'a/b\\c', '../', '.../x']) {
      const dir = at(name);
      expect(path.resolve(dir).startsWith(path.resolve('out') + path.sep), `${name} -> ${dir}`).toBe(true);
      expect(path.dirname(dir)).toBe('out');
      expect(path.basename(dir).startsWith('.')).toBe(false);
    }
    expect(at('../../etc/evil')).toBe(path.join('out', 'etc-evil-3'));
    expect(at('')).toBe(path.join('out', 'ntxent-3'));
    expect(at('simclr run')).toBe(path.join('out', 'simclr-run-3'));
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

describe('npm run train refuses bad input with a clear error, before touching anything', () => {
  it('a null config, unknown fields (with the nearest name), prototype names and empty parts in --set', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'train-bad-'));
    dirs.push(dir);
    const out = path.join(dir, 'never');
    const nullConfig = path.join(dir, 'null.json');
    await writeFile(nullConfig, 'null');
    const typo = path.join(dir, 'typo.json');
    await writeFile(typo, JSON.stringify({ batchsize: 64, optimizer: { lerningRate: 0.1 } }));
    const cases: [string[], RegExp][] = [
      [['--config', nullConfig], /the config .*null\.json holds null, not a RunConfig object/],
      [['--config', typo], /batchsize: unknown field 'batchsize' \(did you mean 'batchSize'\?\)/],
      [['--config', typo], /optimizer\.lerningRate: unknown field 'lerningRate'/],
      [['--set', 'epocs=3'], /epocs: unknown field 'epocs' \(did you mean 'epochs'\?\)/],
      [['--set', 'loss.params.tua=0.3'], /no parameter 'tua' \(did you mean 'tau'\?\)/],
      [['--set', '__proto__.batchSize=2'], /'__proto__' is not a config field/],
      [['--set', 'constructor.prototype.x=1'], /'constructor' is not a config field/],
      [['--set', 'optimizer..lr=1'], /the path has an empty part/],
      [
        ['--config', path.join(dir, 'absent.json')],
        /could not read the config: the config .*absent\.json does not exist/,
      ],
    ];
    for (const [args, message] of cases) {
      const { code, stderr } = await train([...args, '--out', out]);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr).toMatch(message);
    }
    expect(existsSync(out)).toBe(false);
  });

  it('a config too large for the backend is refused with the sizes named, before anything is allocated', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'train-big-'));
    dirs.push(dir);
    const out = path.join(dir, 'never');
    const { code, stderr } = await train([
      '--config',
      'examples/quick-synthetic.json',
      '--set',
      'dataset.synthetic={"trainCount":1000000,"testCount":100000,"size":256}',
      '--set',
      'batchSize=4096',
      '--out',
      out,
    ]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/the run cannot fit in memory:/);
    expect(stderr).toMatch(
      /a step needs at least [\d.]+ GiB on the wasm backend .* more than its 4\.0 GiB \(the wasm heap stops at 4 GiB\)/,
    );
    expect(stderr).toMatch(/the dataset's pixels \(1000000 \+ 100000 images of 256x256x3\) need 201\.4 GiB/);
    expect(stderr).not.toMatch(/backend: /); // refused before the backend started
    expect(existsSync(out)).toBe(false);
  });
});

describe('npm run train --resume', () => {
  let out = '';
  const snapshot = async () =>
    Promise.all(
      ['metrics.jsonl', 'checkpoint.safetensors', 'config.json'].map((f) => readFile(path.join(out, f))),
    );

  it('keeps the checkpoint honest: a changed config, a mismatched or NaN checkpoint are refused and change nothing', async () => {
    out = await mkdtemp(path.join(tmpdir(), 'train-resume-'));
    dirs.push(out);
    const first = await train([
      '--config',
      'examples/quick-synthetic.json',
      '--set',
      'epochs=0.5',
      '--out',
      out,
      '--quiet',
    ]);
    expect(first.code, first.stderr).toBe(0);
    const before = await snapshot();

    const changed = await train([
      '--resume',
      '--out',
      out,
      '--set',
      'encoder.channels=[8,32]',
      '--set',
      'seed=5',
    ]);
    expect(changed.code).toBe(2);
    expect(changed.stderr).toMatch(
      /the given config differs from the one stored in .*checkpoint\.safetensors in encoder\.channels \(checkpoint \[8,16\], given \[8,32\]\), seed \(checkpoint 0, given 5\)\. A resumed run keeps its checkpoint's config; only name, epochs, checkpointEvery, eval\.every, eval\.pca, eval\.linearProbe may change/,
    );
    const other = await train([
      '--resume',
      path.join(out, 'checkpoint.safetensors'),
      '--config',
      'examples/tiny-synthetic.json',
    ]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/differs from the one stored/);

    const bytes = new Uint8Array(await readFile(path.join(out, 'checkpoint.safetensors')));
    const file = readSafetensors(bytes);
    const reshaped = file.tensors.map((t, i) => (i === 0 ? { ...t, shape: [t.data.length] } : t));
    const mismatched = path.join(out, 'mismatched.safetensors');
    await writeFile(mismatched, writeSafetensors(reshaped, file.metadata));
    const wrong = await train(['--resume', mismatched, '--out', out]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(
      /--resume: .*mismatched\.safetensors does not fit this run \(nothing was changed\): checkpoint tensor net\/0\/bb_conv0\/kernel has shape \[\d+\], the network expects \[3,3,3,8\]/,
    );
    const poisoned = file.tensors.map((t, i) =>
      i === 0 ? { ...t, data: Float32Array.from(t.data, (v, k) => (k === 2 ? NaN : v)) } : t,
    );
    const nan = path.join(out, 'nan.safetensors');
    await writeFile(nan, writeSafetensors(poisoned, file.metadata));
    const withNan = await train(['--resume', nan, '--out', out]);
    expect(withNan.code).toBe(2);
    expect(withNan.stderr).toMatch(
      /checkpoint tensor net\/0\/bb_conv0\/kernel holds NaN at value 2: a checkpoint with NaN or Inf cannot be restored/,
    );
    const badStep = path.join(out, 'step.safetensors');
    await writeFile(badStep, writeSafetensors(file.tensors, { ...file.metadata, step: '-4' }));
    const negative = await train(['--resume', badStep, '--out', out]);
    expect(negative.code).toBe(2);
    expect(negative.stderr).toMatch(/metadata step is "-4"; it must be a non-negative integer/);
    const after = await snapshot();
    after.forEach((content, i) => expect(Buffer.compare(content, before[i])).toBe(0));
  });

  it('a checkpoint already at or past the end says so and writes the exports it claims', async () => {
    const again = await mkdtemp(path.join(tmpdir(), 'train-end-'));
    dirs.push(again);
    for (const [args, where] of [
      [[], 'at'],
      [['--set', 'epochs=0.25'], 'past'],
    ] as const) {
      const { code, stderr } = await train([
        '--resume',
        path.join(out, 'checkpoint.safetensors'),
        '--out',
        again,
        '--quiet',
        ...args,
      ]);
      expect(code, stderr).toBe(0);
      expect(stderr).toMatch(
        new RegExp(
          `resumed from step 4: the checkpoint is already ${where} the end of this run .*nothing is left to train`,
        ),
      );
      const claimed = /wrote (.*)\/\{(.*)\}/.exec(stderr)!;
      expect(claimed[1]).toBe(again);
      for (const name of claimed[2].split(',')) expect(existsSync(path.join(again, name)), name).toBe(true);
      expect(claimed[2].split(',')).toEqual(
        expect.arrayContaining(['checkpoint.safetensors', 'model.json', 'weights.bin', 'model.safetensors']),
      );
    }
  });

  it('--resume without a folder to resume from, a run folder reused without --resume, and --help list what may change', async () => {
    const bare = await train(['--resume']);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(
      /--resume without a FILE continues the output folder's own checkpoint: say which folder with --out/,
    );
    const empty = await mkdtemp(path.join(tmpdir(), 'train-empty-'));
    dirs.push(empty);
    const nothing = await train(['--resume', 'auto', '--out', empty]);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toMatch(/holds no checkpoint\.safetensors to continue from/);
    const reuse = await train(['--config', 'examples/quick-synthetic.json', '--out', out]);
    expect(reuse.code).toBe(2);
    expect(reuse.stderr).toMatch(
      /already holds a run \(checkpoint\.safetensors, metrics\.jsonl\): continue it with --resume, or pass --overwrite/,
    );
    const over = await train([
      '--config',
      'examples/quick-synthetic.json',
      '--set',
      'epochs=0.25',
      '--out',
      out,
      '--overwrite',
      '--quiet',
    ]);
    expect(over.code, over.stderr).toBe(0);
    const fresh = (await readFile(path.join(out, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(fresh.filter((e) => e.type === 'step').map((e) => e.step)).toEqual([1, 2]);
    expect(fresh.some((e) => e.type === 'resumed')).toBe(false);
    const help = await train(['--help']);
    for (const field of RESUME_MUTABLE_FIELDS) expect(help.stdout).toContain(field);
  });
});
