// Node-only: `npm run experiment -- NAME [--scale quick|full]` re-runs a paper's claim and writes its report.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend, type BackendName } from '../engine/backend';
import { exportSafetensors } from '../engine/export';
import type { EngineEvent } from '../engine/events';
import { defaultWasmThreads, installNodeWasmThreads, wasmThreadsInUse } from '../kernels/wasm/node';
import {
  EXPERIMENTS,
  SCALES,
  estimateCost,
  experimentBundle,
  experimentById,
  experimentRuns,
  reportHtml,
  reportMarkdown,
  type ExperimentDefinition,
  type PlannedRun,
  type RunResult,
  type Scale,
} from '../experiments/catalog';
import { runExperiment } from '../experiments/runner';
import { openDatasetFromDir } from './open_dataset';
import { applyOverrides } from './train';
import { ENGINE_OPTIONS, optionLines } from './help';

/** The option table: parseArgs reads it and --help prints it. */
export const EXPERIMENT_OPTIONS = {
  ...ENGINE_OPTIONS,
  list: { type: 'boolean', short: 'l', help: 'list the experiments, their runs and cost per scale' },
  scale: {
    type: 'string',
    value: 'quick|full',
    help: 'quick (default: minutes on a laptop GPU) or full (CIFAR-10, hours on a GPU)',
  },
  'data-dir': {
    type: 'string',
    short: 'd',
    value: 'DIR',
    help: 'dataset folder (default public/datasets/<dataset id>)',
  },
  out: {
    type: 'string',
    short: 'o',
    value: 'DIR',
    help: 'output folder (default out/experiments/<name>-<scale>)',
  },
  set: {
    type: 'string',
    short: 's',
    multiple: true,
    value: 'PATH=JSON',
    help: 'override a field of every run before the grid is applied, e.g. --set epochs=1',
  },
  smoke: {
    type: 'boolean',
    help: 'mechanics check: the whole grid, 2 steps per run on tiny synthetic data (the verdict means nothing)',
  },
  fresh: { type: 'boolean', help: 'train every run again, even those already finished in the output folder' },
  quiet: { type: 'boolean', short: 'q', help: 'one line per run instead of one per evaluation' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const;

export function experimentHelp(): string {
  const lines = optionLines(EXPERIMENT_OPTIONS);
  return [
    'Usage: npm run experiment -- NAME [options]      npm run experiment -- --list',
    '',
    "Re-runs a paper's claim: trains every run of the experiment's grid with the same engine as `npm run train`",
    'and writes to the output folder: report.md (the claim, the metrics that decide it, the verdict), report.html',
    '(the same with the plots, one self-contained file), experiment.json (configs, histories and verdict: the',
    "app's experiment export) and runs/<run>/{config.json,metrics.jsonl,model.safetensors,result.json}. Runs",
    'already finished in the output folder with the same config are kept (see --fresh), so an interrupted',
    'experiment continues where it stopped.',
    '',
    'Exit status: 0 when every run trained, whatever the verdict (a claim that does not hold is a result); 1 when',
    'a run failed or something else went wrong (the report is still written); 2 for bad arguments.',
    '',
    `Experiments: ${EXPERIMENTS.map((e) => e.id).join(', ')}`,
    '',
    'Options:',
    ...lines,
  ].join('\n');
}

function formatCount(value: number): string {
  if (value >= 1e9) return `${(value / 1e9).toFixed(1)}G`;
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(0)}k`;
  return String(value);
}

/** The --list table: name, title, and per scale the runs and the training images they process. */
export function experimentList(): string {
  const rows = EXPERIMENTS.map((experiment) => {
    const costs = SCALES.map((scale) => {
      const cost = estimateCost(experimentRuns(experiment, scale));
      return `${cost.runs} runs, ${formatCount(cost.viewImages)} img`;
    });
    return [experiment.id, experiment.title, ...costs];
  });
  const header = ['name', 'title', 'quick', 'full'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [
    line(header),
    ...rows.map(line),
    '',
    'img = images through the encoder in training (batch x views x steps, all runs); `npm run experiment -- NAME`',
    'runs the quick scale, `--scale full` the CIFAR-10 one. docs/experiments.md describes each.',
  ].join('\n');
}

/** Starts the tfjs backend as `npm run train` does; returns its description for the report. */
export async function initNodeBackend(opts: {
  backend: string;
  kernels: string;
  threads: number;
}): Promise<{ active: string; description: string }> {
  // the wasm backend is the fall-back of every chain in Node, so it gets its threads whatever was asked for
  installNodeWasmThreads(opts.threads);
  if (opts.backend === 'webgpu') {
    // loaded only when asked for: it pulls in Dawn's native module
    const { installNodeWebGPU } = await import('../kernels/webgpu/node');
    await installNodeWebGPU();
  }
  const backend = await initBackend({
    preferred: opts.backend as BackendName,
    environment: 'node',
    kernels: opts.kernels as 'project' | 'stock',
  });
  for (const skipped of backend.skipped) console.error(`backend ${skipped.name} skipped: ${skipped.reason}`);
  const where = backend.adapter
    ? ` (${backend.adapter})`
    : backend.active === 'wasm'
      ? ` (${wasmThreadsInUse()} threads)`
      : '';
  return { active: backend.active, description: `${backend.active}${where}, ${opts.kernels} kernels` };
}

function hardware(): string {
  const cpus = os.cpus();
  return cpus.length > 0 ? `${cpus[0].model.trim()}, ${cpus.length} logical cores` : 'unknown';
}

function sameConfig(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A finished run kept in the output folder from an earlier call, when its config is the planned one. */
async function finishedRun(dir: string, run: PlannedRun): Promise<RunResult | null> {
  const file = path.join(dir, 'result.json');
  if (!existsSync(file)) return null;
  try {
    const saved = JSON.parse(await readFile(file, 'utf8')) as RunResult;
    return saved.status === 'completed' && sameConfig(saved.config, run.config) ? saved : null;
  } catch {
    return null;
  }
}

function describeEval(event: Extract<EngineEvent, { type: 'eval' }>): string {
  return (
    `eval @ step ${event.step}: kNN(h) ${(event.h.knnTop1 * 100).toFixed(1)}%, alignment(z) ${event.z.alignment.toFixed(3)}, ` +
    `uniformity(z) ${event.z.uniformity.toFixed(3)}, erank h ${event.h.effectiveRank.toFixed(1)} / z ${event.z.effectiveRank.toFixed(1)}`
  );
}

async function run(
  experiment: ExperimentDefinition,
  scale: Scale,
  args: {
    out: string;
    dataDir?: string;
    sets: string[];
    smoke: boolean;
    fresh: boolean;
    quiet: boolean;
    backend: { active: string; description: string };
  },
): Promise<number> {
  const planned = experimentRuns(experiment, scale, {
    smoke: args.smoke,
    base: (base) => applyOverrides(structuredClone(base) as Record<string, unknown>, args.sets),
  });
  const cost = estimateCost(planned);
  console.error(
    `${experiment.id} (${scale}${args.smoke ? ', smoke' : ''}): ${cost.runs} runs, ${cost.steps.toLocaleString('en-US')} steps, ` +
      `${cost.viewImages.toLocaleString('en-US')} training images through the encoder; writing to ${args.out}`,
  );
  await mkdir(path.join(args.out, 'runs'), { recursive: true });
  const runDir = (run: PlannedRun) => path.join(args.out, 'runs', run.key);
  const logs = new Map<string, string[]>();
  const results = await runExperiment(experiment, scale, {
    smoke: args.smoke,
    base: (base) => applyOverrides(structuredClone(base) as Record<string, unknown>, args.sets),
    backend: args.backend.active,
    openDataset: (spec, seed) =>
      openDatasetFromDir(spec, args.dataDir ?? path.join('public', 'datasets', spec.id), seed),
    reuse: async (run) => {
      const kept = args.fresh ? null : await finishedRun(runDir(run), run);
      if (kept) console.error(`${run.key}: kept the finished run in ${runDir(run)}`);
      return kept;
    },
    onEvent: (run, event) => {
      const { bytes: _bytes, ...printable } = event as EngineEvent & { bytes?: Uint8Array };
      const log = logs.get(run.key) ?? [];
      log.push(JSON.stringify(printable));
      logs.set(run.key, log);
      if (event.type === 'started') {
        console.error(`${run.key}: training ${event.totalSteps} steps`);
      } else if (event.type === 'eval' && !args.quiet) {
        console.error(`  ${describeEval(event)}`);
      } else if (event.type === 'error') {
        console.error(`  error: ${event.message}`);
      }
    },
    afterRun: async (run, trainer) => {
      await mkdir(runDir(run), { recursive: true });
      await writeFile(
        path.join(runDir(run), 'model.safetensors'),
        await exportSafetensors(trainer.network, run.config, {
          preprocessing: trainer.preprocessing,
          step: trainer.step,
        }),
      );
    },
    onResult: async (result, index, total, reused) => {
      console.error(
        `[${index + 1}/${total}] ${result.key}: ${result.status}${result.error ? ` (${result.error})` : ''}` +
          (result.wallSeconds !== undefined ? ` in ${result.wallSeconds.toFixed(0)} s` : ''),
      );
      if (reused) return;
      // written as each run ends, so an interrupted experiment keeps its finished runs
      const dir = runDir(result);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'config.json'), JSON.stringify(result.config, null, 2));
      await writeFile(path.join(dir, 'metrics.jsonl'), (logs.get(result.key) ?? []).join('\n') + '\n');
      await writeFile(path.join(dir, 'result.json'), JSON.stringify(result));
      logs.delete(result.key);
    },
  });
  const bundle = experimentBundle({
    experiment,
    scale,
    runs: results,
    smoke: args.smoke,
    environment: {
      backend: args.backend.description,
      hardware: hardware(),
      node: process.version,
    },
  });
  await writeFile(path.join(args.out, 'experiment.json'), JSON.stringify(bundle));
  await writeFile(path.join(args.out, 'report.md'), reportMarkdown(bundle));
  await writeFile(path.join(args.out, 'report.html'), reportHtml(bundle));
  console.error(`\n${bundle.verdict.observed}`);
  console.error(`wrote ${args.out}/{report.md,report.html,experiment.json,runs/}`);
  const failed = results.filter((result) => result.status !== 'completed');
  if (failed.length > 0) {
    console.error(`${failed.length} run(s) did not complete: ${failed.map((r) => r.key).join(', ')}`);
    return 1;
  }
  return 0;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: EXPERIMENT_OPTIONS, allowPositionals: true });
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${experimentHelp()}`);
    return 2;
  }
  const args = parsed.values;
  if (args.help) {
    console.log(experimentHelp());
    return 0;
  }
  if (args.list) {
    console.log(experimentList());
    return 0;
  }
  if (parsed.positionals.length !== 1) {
    console.error(
      `name one experiment (got ${parsed.positionals.length}): ${EXPERIMENTS.map((e) => e.id).join(', ')}; --list describes them`,
    );
    return 2;
  }
  let experiment: ExperimentDefinition;
  try {
    experiment = experimentById(parsed.positionals[0]);
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const scale = (args.scale ?? 'quick') as Scale;
  if (!(SCALES as readonly string[]).includes(scale)) {
    console.error(`--scale must be ${SCALES.join(' or ')}, got "${args.scale}"`);
    return 2;
  }
  const kernels = args.kernels ?? 'project';
  if (kernels !== 'project' && kernels !== 'stock') {
    console.error(`--kernels must be project or stock, got "${kernels}"`);
    return 2;
  }
  const threads = args.threads === undefined ? defaultWasmThreads() : Number(args.threads);
  try {
    // validate the grid (and --set) before starting a backend
    experimentRuns(experiment, scale, {
      smoke: args.smoke,
      base: (base) => applyOverrides(structuredClone(base) as Record<string, unknown>, args.set ?? []),
    });
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  let backend;
  try {
    backend = await initNodeBackend({ backend: args.backend ?? 'wasm', kernels, threads });
  } catch (err) {
    console.error(`backend: ${(err as Error).message}`);
    return 2;
  }
  console.error(`backend: ${backend.description}`);
  const out =
    args.out ?? path.join('out', 'experiments', `${experiment.id}-${scale}${args.smoke ? '-smoke' : ''}`);
  return run(experiment, scale, {
    out,
    dataDir: args['data-dir'],
    sets: args.set ?? [],
    smoke: args.smoke ?? false,
    fresh: args.fresh ?? false,
    quiet: args.quiet ?? false,
    backend,
  });
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('experiment.ts')) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(`error: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}
