import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseRunConfig } from '../engine/config';
import { openDataset } from '../engine/data/index';
import { exportSafetensors } from '../engine/export';
import { PROJECT_SOURCE_FILES } from '../engine/pytorch/project';
import { readSafetensors, writeSafetensors } from '../engine/safetensors';
import { Trainer } from '../engine/trainer';
import { tinyConfig } from '../engine/trainer_testing';
import { runCli } from './cli_testing';
import { EXPORT_PYTORCH_OPTIONS, exportPytorchMain } from './export_pytorch';

const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'export-pytorch-'));
  dirs.push(dir);
  return dir;
}

/** The command in this process (fast), its output captured; the first test runs it as `tsx` does. */
async function exportPytorch(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...parts) => void stdout.push(parts.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...parts) => void stderr.push(parts.join(' ')));
  const code = await exportPytorchMain(args);
  return { code, stdout: stdout.join('\n'), stderr: stderr.join('\n') };
}
afterEach(() => vi.restoreAllMocks());

/** An `npm run train` output folder: model.safetensors (the export) and checkpoint.safetensors after 3 steps. */
let run: string;
let exported: Uint8Array;
beforeAll(async () => {
  run = await tempDir();
  const config = parseRunConfig(tinyConfig({ seed: 2 }));
  const dataset = await openDataset({ id: 'synthetic', seed: config.seed, ...config.dataset.synthetic });
  const trainer = await Trainer.create(config, { dataset, onEvent: () => undefined });
  await trainer.run({ untilStep: 3 });
  exported = await exportSafetensors(trainer.network, config, {
    preprocessing: trainer.preprocessing,
    step: trainer.step,
  });
  await writeFile(path.join(run, 'model.safetensors'), exported);
  await writeFile(path.join(run, 'checkpoint.safetensors'), await trainer.checkpoint());
  trainer.dispose();
});

const projectFiles = [...PROJECT_SOURCE_FILES, 'run.json', 'model.safetensors'].sort();

describe('npm run export-pytorch', () => {
  it('--help documents every option', async () => {
    const { code, stdout } = await exportPytorch(['--help']);
    expect(code).toBe(0);
    for (const name of Object.keys(EXPORT_PYTORCH_OPTIONS)) expect(stdout).toContain(`--${name}`);
  });

  it('writes the project of a train output folder with its model.safetensors as is (the script, through tsx)', async () => {
    const out = path.join(await tempDir(), 'project');
    const { code, stderr } = await runCli('export_pytorch.ts', ['--from', run, '--out', out]);
    expect(code, stderr).toBe(0);
    expect(stderr).toContain('python train.py --config run.json --resume model.safetensors');
    expect((await readdir(out)).sort()).toEqual(projectFiles);
    expect(new Uint8Array(await readFile(path.join(out, 'model.safetensors')))).toEqual(exported);
    expect(JSON.parse(await readFile(path.join(out, 'run.json'), 'utf8'))).toEqual(
      JSON.parse(readSafetensors(exported).metadata.run_config),
    );
  });

  it('rebuilds the export from a checkpoint, measuring the preprocessing on the dataset as the trainer does', async () => {
    const out = await tempDir();
    const { code, stderr } = await exportPytorch([
      '--from',
      path.join(run, 'checkpoint.safetensors'),
      '--out',
      out,
    ]);
    expect(code, stderr).toBe(0);
    expect(stderr).toContain("lacks the input preprocessing: measuring it on the 'synthetic' training set");
    const rebuilt = readSafetensors(new Uint8Array(await readFile(path.join(out, 'model.safetensors'))));
    const original = readSafetensors(exported);
    expect(rebuilt.metadata).toEqual(original.metadata);
    expect(rebuilt.tensors.map((t) => [t.name, Array.from(t.data)])).toEqual(
      original.tensors.map((t) => [t.name, Array.from(t.data)]),
    );
  });

  it('refuses a folder that is not empty, a missing --from and a file that is no playground export', async () => {
    const full = await tempDir();
    await writeFile(path.join(full, 'notes.txt'), 'keep me');
    const notEmpty = await exportPytorch(['--from', run, '--out', full]);
    expect(notEmpty.code).toBe(2);
    expect(notEmpty.stderr).toContain(`--out ${full} is not empty; pick a new folder or pass --force`);
    expect(await readFile(path.join(full, 'notes.txt'), 'utf8')).toBe('keep me');

    const missing = await exportPytorch(['--out', path.join(full, 'x')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--from and --out are both needed');

    const foreign = path.join(full, 'foreign');
    await mkdir(foreign);
    await writeFile(
      path.join(foreign, 'model.safetensors'),
      writeSafetensors([{ name: 'w', dtype: 'F32', shape: [1], data: new Float32Array(1) }]),
    );
    const notOurs = await exportPytorch(['--from', foreign, '--out', path.join(full, 'y')]);
    expect(notOurs.code).toBe(2);
    expect(notOurs.stderr).toContain(
      'has no run_config metadata: it is not a playground export or checkpoint',
    );

    // a checkpoint of a loss the project cannot train: refused before any measuring, nothing written
    const beclr = await tempDir();
    const metadata = readSafetensors(await readFile(path.join(run, 'checkpoint.safetensors'))).metadata;
    const config = JSON.parse(metadata.run_config) as Record<string, unknown>;
    await writeFile(
      path.join(beclr, 'checkpoint.safetensors'),
      writeSafetensors([{ name: 'w', dtype: 'F32', shape: [1], data: new Float32Array(1) }], {
        ...metadata,
        run_config: JSON.stringify({ ...config, loss: { id: 'beclr', params: {} } }),
      }),
    );
    const refused = await exportPytorch(['--from', beclr, '--out', path.join(beclr, 'project')]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("error: the PyTorch project does not implement loss 'beclr'");
    expect(refused.stderr).not.toContain('measuring');
    expect(await readdir(beclr)).toEqual(['checkpoint.safetensors']);
  });
});
