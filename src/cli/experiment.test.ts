import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './cli_testing';
import { readSafetensors } from '../engine/safetensors';
import { EXPERIMENT_IDS } from '../experiments/catalog';
import { EXPERIMENT_OPTIONS } from './experiment';

const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

const experiment = (args: string[]) => runCli('experiment.ts', args);

describe('npm run experiment', () => {
  it('--list names every experiment with its runs per scale; --help documents every option', async () => {
    const list = await experiment(['--list']);
    expect(list.code).toBe(0);
    for (const id of EXPERIMENT_IDS) expect(list.stdout).toMatch(new RegExp(`^${id} `, 'm'));
    expect(list.stdout).toMatch(
      /^dcl-batch +Decoupled contrastive learning at small batch sizes +6 runs, .+ +36 runs,/m,
    );
    const help = await experiment(['--help']);
    expect(help.code).toBe(0);
    for (const name of Object.keys(EXPERIMENT_OPTIONS)) expect(help.stdout).toContain(`--${name}`);
  });

  it('refuses an unknown experiment, a bad scale and a bad override with exit status 2', async () => {
    const unknown = await experiment(['tempreature']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown experiment 'tempreature'; the experiments are: temperature,");
    const scale = await experiment(['temperature', '--scale', 'huge']);
    expect(scale.code).toBe(2);
    expect(scale.stderr).toContain('--scale must be quick or full, got "huge"');
    const set = await experiment(['temperature', '--set', 'batchSize=1']);
    expect(set.code).toBe(2);
    expect(set.stderr).toMatch(/run tau=0\.07,seed=0: invalid RunConfig:\n {2}- batchSize/);
    expect((await experiment([])).code).toBe(2);
  });

  it('runs a grid (smoke) and writes report.md, report.html, experiment.json and each run; a rerun keeps them', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'experiment-cli-'));
    dirs.push(out);
    const args = ['dimensional-collapse', '--smoke', '--out', out, '--threads', '1', '--quiet'];
    const first = await experiment(args);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(
      /^Observed: spectrum rank h .+ without it: (holds|does not hold|inconclusive)$/m,
    );

    const md = await readFile(path.join(out, 'report.md'), 'utf8');
    expect(md).toContain('# Dimensional collapse and the projector (quick scale)');
    expect(md).toMatch(/## Verdict: (holds|does not hold|inconclusive)/);
    expect(md).toContain('| projector | spectrum rank(h) | spectrum rank(z) |');
    expect(md).toMatch(
      /Environment: backend: wasm \(1 threads\), project kernels; hardware: .+ logical cores/,
    );
    const html = await readFile(path.join(out, 'report.html'), 'utf8');
    expect(html.match(/<svg /g)?.length).toBe(5);
    const bundle = JSON.parse(await readFile(path.join(out, 'experiment.json'), 'utf8'));
    expect(bundle.smoke).toBe(true);
    expect(bundle.runs.map((r: { key: string }) => r.key)).toEqual([
      'projector=mlp,seed=0',
      'projector=none,seed=0',
    ]);

    const noProjector = path.join(out, 'runs', 'projector=none,seed=0');
    const events = (await readFile(path.join(noProjector, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(events.filter((e) => e.type === 'eval')).toHaveLength(3);
    expect(events.at(-1)).toMatchObject({ type: 'finished', reason: 'completed' });
    expect(JSON.parse(await readFile(path.join(noProjector, 'config.json'), 'utf8')).projector.layers).toBe(
      0,
    );
    const weights = readSafetensors(
      new Uint8Array(await readFile(path.join(noProjector, 'model.safetensors'))),
    );
    const names = weights.tensors.map((tensor) => tensor.name);
    expect(names.some((name) => name.startsWith('projector/'))).toBe(false);
    expect(names.some((name) => name.startsWith('backbone/'))).toBe(true);
    expect(existsSync(path.join(noProjector, 'result.json'))).toBe(true);

    const again = await experiment(args);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('projector=mlp,seed=0: kept the finished run');
    expect(again.stderr).not.toContain('training 2 steps');
  });
});
