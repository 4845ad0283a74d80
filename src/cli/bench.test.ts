import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './cli_testing';
import { BENCH_OPTIONS, benchHelp, parseBenchArgs, parseFlags } from './bench';

const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

const bench = (args: string[]) => runCli('bench.ts', args);

describe('npm run bench options', () => {
  it('--help lists every option of the option table', () => {
    const help = benchHelp();
    for (const name of Object.keys(BENCH_OPTIONS)) expect(help).toContain(`--${name}`);
  });

  it('--flags parses NAME=VALUE lists into booleans, numbers and strings', () => {
    expect(parseFlags(undefined)).toEqual({});
    expect(
      parseFlags('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=64, WEBGPU_CPU_FORWARD=false,WEBGPU_PRINT_SHADER=all'),
    ).toEqual({
      WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE: 64,
      WEBGPU_CPU_FORWARD: false,
      WEBGPU_PRINT_SHADER: 'all',
    });
    expect(parseFlags('A=true,B=-1.5e-3,C=')).toEqual({ A: true, B: -1.5e-3, C: '' });
    expect(() => parseFlags('WEBGPU_CPU_FORWARD')).toThrow(/'WEBGPU_CPU_FORWARD' is not NAME=VALUE/);
    expect(() => parseFlags('=1')).toThrow(/not NAME=VALUE/);
    const parsed = parseBenchArgs(['--backend', 'cpu', '--flags', 'IS_TEST=true']);
    expect(parsed !== 'help' && parsed.flags).toEqual({ IS_TEST: true });
  });

  it('sets the flags on the backend and writes them into the JSON; an unknown flag fails that backend with its name', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'bench-cli-'));
    dirs.push(out);
    const json = path.join(out, 'w3.json');
    const ok = await bench([
      '--backend',
      'cpu',
      '--quick',
      '--workload',
      'W3',
      '--flags',
      'IS_TEST=true',
      '--json',
      json,
    ]);
    expect(ok.code).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8'));
    expect(report.options.flags).toEqual({ IS_TEST: true });
    expect(report.rows[0]).toMatchObject({ workload: 'W3', backend: 'cpu' });
    expect(report.rows[0].throughput).toBeGreaterThan(0);
    const bad = await bench(['--backend', 'cpu', '--quick', '--workload', 'W3', '--flags', 'NO_SUCH_FLAG=1']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(
      /--flags: cannot set NO_SUCH_FLAG=1: Cannot set flag NO_SUCH_FLAG as it has not been registered/,
    );
  });
});
