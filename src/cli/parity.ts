// Node-only: `npm run parity -- --config run.json --epochs E --data-dir DIR` trains one RunConfig with the engine
// and with the PyTorch reference (bench/parity/simclr_reference.py) and prints kNN and mean loss per epoch for each.
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../engine/backend';
import { parseRunConfig, type RunConfig } from '../engine/config';
import type { EngineEvent } from '../engine/events';
import { Trainer } from '../engine/trainer';
import { installNodeWasmThreads, MAX_WASM_THREADS } from '../kernels/wasm/node';
import { installNodeWebGPU } from '../kernels/webgpu/node';
import { openDatasetFromDir } from './open_dataset';
import { applyOverrides } from './train';
import { optionLines } from './help';

export const PARITY_OPTIONS = {
  config: {
    type: 'string',
    short: 'c',
    value: 'FILE',
    help: 'RunConfig JSON (missing fields take their defaults)',
  },
  epochs: { type: 'string', short: 'e', value: 'E', help: 'epochs for both sides (default: the config)' },
  'data-dir': {
    type: 'string',
    short: 'd',
    value: 'DIR',
    help: 'CIFAR-10 binary folder (data_batch_*.bin, test_batch.bin)',
  },
  seeds: {
    type: 'string',
    value: 'LIST',
    help: 'comma list of seeds, each a run per side (default: the config)',
  },
  set: {
    type: 'string',
    short: 's',
    multiple: true,
    value: 'PATH=JSON',
    help: 'override a field on both sides',
  },
  'engine-set': {
    type: 'string',
    multiple: true,
    value: 'PATH=JSON',
    help: 'override a field on the engine only',
  },
  'torch-set': {
    type: 'string',
    multiple: true,
    value: 'PATH=JSON',
    help: 'override a field on the PyTorch side only, e.g. --torch-set nn.init=torch',
  },
  'torch-preset': {
    type: 'string',
    value: 'NAME',
    help: "'plain': the PyTorch side as a plain script (PyTorch init, symmetric padding, per-view BatchNorm, no standardisation, decay on every parameter)",
  },
  'torch-decay': {
    type: 'string',
    value: 'WHICH',
    help: "weight decay on 'kernels' (the engine's rule, default) or 'all'",
  },
  only: { type: 'string', value: 'SIDE', help: "run one side: 'engine' or 'torch'" },
  threads: {
    type: 'string',
    short: 't',
    value: 'N',
    help: `wasm and torch threads (default 2, 1 to ${MAX_WASM_THREADS})`,
  },
  backend: {
    type: 'string',
    value: 'NAME',
    help: "the engine's backend: 'wasm' (default) or 'webgpu' (Dawn: a GPU, or SwiftShader)",
  },
  device: {
    type: 'string',
    value: 'NAME',
    help: "the PyTorch side's device: 'cpu' (default) or 'cuda' (fp32, TF32 off)",
  },
  python: { type: 'string', value: 'PATH', help: 'Python with torch (default /usr/bin/python3)' },
  out: {
    type: 'string',
    short: 'o',
    value: 'DIR',
    help: "write parity.json (every row) and each side's config here",
  },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const;

/** What the plain-PyTorch preset changes on the PyTorch side: each framework choice set to PyTorch's own. */
export const PLAIN_TORCH_PRESET = {
  set: [
    'nn.init="torch"',
    'nn.padding="symmetric"',
    'nn.batchNormViews="per-view"',
    'dataset.standardize="none"',
  ],
  decay: 'all',
} as const;

export function parityHelp(): string {
  const lines = optionLines(PARITY_OPTIONS);
  return [
    'Usage: npm run parity -- --config run.json --epochs E --data-dir DIR [options]',
    '',
    'Trains the config with the engine (wasm, or webgpu through Dawn) and with the PyTorch reference',
    '(bench/parity/simclr_reference.py, on the CPU or a CUDA device), one seed after the other, and prints kNN',
    'top-1 (h, k = eval.knnK, T = eval.knnTemperature, the first eval.size test images against the first',
    'eval.bankSize training images) before training and after every epoch, and the mean training loss of every',
    'epoch, for each side. NT-Xent with two views and a resnet encoder on CIFAR-10.',
    '',
    'Options:',
    ...lines,
  ].join('\n');
}

/** One evaluation of one side: epoch 0 is before training; loss fields are the epoch's steps. */
export interface ParityRow {
  side: 'engine' | 'torch';
  seed: number;
  epoch: number;
  knn: number;
  lossMean: number | null;
  lossLast: number | null;
}

/** Checks that the PyTorch reference can train this config; returns the problem in words, or null. */
export function torchReferenceProblem(config: RunConfig): string | null {
  if (config.dataset.id !== 'cifar10') return `dataset.id must be 'cifar10' (got '${config.dataset.id}')`;
  if (config.loss.id !== 'ntxent') return `loss.id must be 'ntxent' (got '${config.loss.id}')`;
  if (config.views.large !== 2 || config.views.small !== 0) return 'views must be 2 large + 0 small';
  if (config.encoder.type !== 'resnet') return `encoder.type must be 'resnet' (got '${config.encoder.type}')`;
  if (config.optimizer.type === 'lars') return "optimizer.type must be 'adam', 'adamw' or 'sgd'";
  return null;
}

/** Groups step losses by epoch and pairs them with the eval events: one row per evaluation. */
export function engineRows(events: EngineEvent[], stepsPerEpoch: number, seed: number): ParityRow[] {
  const losses: number[][] = [];
  for (const e of events) {
    if (e.type !== 'step') continue;
    const epoch = Math.floor((e.step - 1) / stepsPerEpoch);
    (losses[epoch] ??= []).push(e.loss);
  }
  return events.flatMap((e) => {
    if (e.type !== 'eval') return [];
    const epochLosses = e.step > 0 ? (losses[Math.ceil(e.step / stepsPerEpoch) - 1] ?? []) : [];
    return [
      {
        side: 'engine' as const,
        seed,
        epoch: e.step / stepsPerEpoch,
        knn: e.h.knnTop1,
        lossMean: epochLosses.length ? epochLosses.reduce((a, b) => a + b, 0) / epochLosses.length : null,
        lossLast: epochLosses.at(-1) ?? null,
      },
    ];
  });
}

/** The table: one line per (seed, epoch), engine and PyTorch side by side, then the mean over seeds. */
export function formatParityTable(rows: ParityRow[]): string {
  const pct = (x: number | undefined) =>
    x === undefined ? '     -' : `${(x * 100).toFixed(1).padStart(5)}%`;
  const loss = (x: number | null | undefined) => (x == null ? '    -' : x.toFixed(3));
  const key = (seed: number | string, epoch: number) => `${seed}:${epoch.toFixed(3)}`;
  const index = new Map<string, { engine?: ParityRow; torch?: ParityRow }>();
  for (const r of rows) {
    const k = key(r.seed, r.epoch);
    index.set(k, { ...index.get(k), [r.side]: r });
  }
  const seeds = [...new Set(rows.map((r) => r.seed))].sort((a, b) => a - b);
  const epochs = [...new Set(rows.map((r) => r.epoch))].sort((a, b) => a - b);
  const header =
    'seed  epoch | engine kNN  torch kNN  engine-torch | engine loss (mean / last)  torch loss (mean / last)';
  const lines = [header, '-'.repeat(header.length)];
  const line = (label: string, epoch: number, e?: Partial<ParityRow>, t?: Partial<ParityRow>) => {
    const diff =
      e?.knn !== undefined && t?.knn !== undefined
        ? `${((e.knn - t.knn) * 100 >= 0 ? '+' : '') + ((e.knn - t.knn) * 100).toFixed(1)}`.padStart(6)
        : '     -';
    lines.push(
      `${label.padEnd(5)} ${epoch.toFixed(2).padStart(5)} |     ${pct(e?.knn)}     ${pct(t?.knn)}        ${diff} |` +
        `             ${loss(e?.lossMean)} / ${loss(e?.lossLast)}            ${loss(t?.lossMean)} / ${loss(t?.lossLast)}`,
    );
  };
  for (const seed of seeds) {
    for (const epoch of epochs) {
      const pair = index.get(key(seed, epoch));
      if (pair) line(String(seed), epoch, pair.engine, pair.torch);
    }
  }
  if (seeds.length > 1) {
    const mean = (side: 'engine' | 'torch', epoch: number): Partial<ParityRow> | undefined => {
      const of = rows.filter((r) => r.side === side && Math.abs(r.epoch - epoch) < 1e-9);
      if (of.length === 0) return undefined;
      const avg = (f: (r: ParityRow) => number | null) => {
        const values = of.map(f).filter((v): v is number => v != null);
        return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
      };
      return {
        knn: avg((r) => r.knn) ?? undefined,
        lossMean: avg((r) => r.lossMean),
        lossLast: avg((r) => r.lossLast),
      };
    };
    for (const epoch of epochs) line('mean', epoch, mean('engine', epoch), mean('torch', epoch));
  }
  return lines.join('\n');
}

async function runEngine(config: RunConfig, dataDir: string): Promise<ParityRow[]> {
  const dataset = await openDatasetFromDir(config.dataset, dataDir, config.seed);
  const train = await dataset.train();
  const count =
    config.dataset.trainLimit > 0 ? Math.min(config.dataset.trainLimit, train.count) : train.count;
  const stepsPerEpoch =
    config.stepsPerEpoch > 0 ? config.stepsPerEpoch : Math.max(1, Math.floor(count / config.batchSize));
  // one evaluation before training and one after every epoch
  const evaluated: RunConfig = {
    ...config,
    eval: { ...config.eval, every: stepsPerEpoch },
    checkpointEvery: 0,
  };
  const events: EngineEvent[] = [];
  let failure: string | null = null;
  const trainer = await Trainer.create(evaluated, {
    dataset,
    onEvent: (e) => {
      if (e.type === 'step' || e.type === 'eval') events.push(e);
      if (e.type === 'eval')
        console.error(
          `engine seed ${config.seed} epoch ${(e.step / stepsPerEpoch).toFixed(2)}: kNN ${(e.h.knnTop1 * 100).toFixed(1)}%`,
        );
      if (e.type === 'error') failure = e.message;
    },
  });
  try {
    const outcome = await trainer.run();
    if (outcome !== 'completed') throw new Error(`the engine run ended '${outcome}': ${failure ?? ''}`);
  } finally {
    trainer.dispose();
  }
  return engineRows(events, stepsPerEpoch, config.seed);
}

async function runTorch(
  config: RunConfig,
  options: {
    dataDir: string;
    python: string;
    threads: number;
    decay: string;
    device: string;
    configPath: string;
  },
): Promise<ParityRow[]> {
  await writeFile(options.configPath, JSON.stringify(config, null, 2));
  const script = path.join('bench', 'parity', 'simclr_reference.py');
  const args = [script, '--config', options.configPath, '--data-dir', options.dataDir];
  args.push('--threads', String(options.threads), '--decay', options.decay, '--device', options.device);
  const child = spawn(options.python, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const rows: ParityRow[] = [];
  let buffer = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let newline;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const text = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (!text.startsWith('{')) continue;
      const line = JSON.parse(text) as {
        epoch?: number;
        knn?: number;
        loss_mean?: number | null;
        loss_last?: number | null;
      };
      if (line.epoch === undefined || line.knn === undefined) continue;
      console.error(
        `torch seed ${config.seed} epoch ${line.epoch.toFixed(2)}: kNN ${(line.knn * 100).toFixed(1)}%`,
      );
      rows.push({
        side: 'torch',
        seed: config.seed,
        epoch: line.epoch,
        knn: line.knn,
        lossMean: line.loss_mean ?? null,
        lossLast: line.loss_last ?? null,
      });
    }
  });
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', (err) =>
      reject(
        new Error(
          `could not start ${options.python}: ${err.message}; pass --python with a Python that has torch`,
        ),
      ),
    );
    child.on('close', (c) => resolve(c ?? 1));
  });
  if (code !== 0) throw new Error(`the PyTorch reference exited with code ${code} (its messages are above)`);
  return rows;
}

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({ args: argv, options: PARITY_OPTIONS, allowPositionals: false }).values;
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${parityHelp()}`);
    return 2;
  }
  if (args.help) {
    console.log(parityHelp());
    return 0;
  }
  if (!args.config || !args['data-dir']) {
    console.error(`--config and --data-dir are required\n\n${parityHelp()}`);
    return 2;
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await readFile(args.config, 'utf8'));
  } catch (err) {
    console.error(`could not read the config ${args.config}: ${(err as Error).message}`);
    return 2;
  }
  if (args.epochs !== undefined) {
    const epochs = Number(args.epochs);
    if (!(epochs > 0)) {
      console.error(`--epochs must be a number > 0, got '${args.epochs}'`);
      return 2;
    }
    raw.epochs = epochs;
  }
  const preset = args['torch-preset'];
  if (preset !== undefined && preset !== 'plain') {
    console.error(`--torch-preset: the one preset is 'plain', got '${preset}'`);
    return 2;
  }
  const decay = args['torch-decay'] ?? (preset === 'plain' ? PLAIN_TORCH_PRESET.decay : 'kernels');
  if (decay !== 'kernels' && decay !== 'all') {
    console.error(`--torch-decay must be 'kernels' or 'all', got '${decay}'`);
    return 2;
  }
  const only = args.only;
  if (only !== undefined && only !== 'engine' && only !== 'torch') {
    console.error(`--only must be 'engine' or 'torch', got '${only}'`);
    return 2;
  }
  const backend = args.backend ?? 'wasm';
  if (backend !== 'wasm' && backend !== 'webgpu') {
    console.error(`--backend must be 'wasm' or 'webgpu', got '${backend}'`);
    return 2;
  }
  const device = args.device ?? 'cpu';
  if (device !== 'cpu' && device !== 'cuda') {
    console.error(`--device must be 'cpu' or 'cuda', got '${device}'`);
    return 2;
  }
  const threads = args.threads === undefined ? 2 : Number(args.threads);
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_WASM_THREADS) {
    console.error(`--threads must be an integer from 1 to ${MAX_WASM_THREADS}, got '${args.threads}'`);
    return 2;
  }
  const side = (extra: string[]): RunConfig =>
    parseRunConfig(applyOverrides(structuredClone(raw), [...(args.set ?? []), ...extra]));
  let engineConfig: RunConfig;
  let torchConfig: RunConfig;
  try {
    engineConfig = side(args['engine-set'] ?? []);
    torchConfig = side([...(preset === 'plain' ? PLAIN_TORCH_PRESET.set : []), ...(args['torch-set'] ?? [])]);
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const problem = torchReferenceProblem(torchConfig);
  if (problem && only !== 'engine') {
    console.error(`the PyTorch reference cannot train this config: ${problem}`);
    return 2;
  }
  const seeds = args.seeds ? args.seeds.split(',').map(Number) : [engineConfig.seed];
  if (seeds.some((s) => !Number.isInteger(s) || s < 0)) {
    console.error(`--seeds must be a comma list of integers >= 0, got '${args.seeds}'`);
    return 2;
  }
  const python = args.python ?? '/usr/bin/python3';
  if (only !== 'engine' && !existsSync(python)) {
    console.error(
      `${python} does not exist; pass --python with a Python that has torch (Debian: python3-torch)`,
    );
    return 2;
  }
  const outDir = args.out ?? path.join('out', `parity-${engineConfig.name || 'run'}`);
  await mkdir(outDir, { recursive: true });
  if (only !== 'torch') {
    if (backend === 'webgpu') await installNodeWebGPU();
    else installNodeWasmThreads(threads);
    const report = await initBackend({ preferred: backend, environment: 'node', kernels: 'project' });
    if (report.active !== backend) {
      console.error(
        `the engine could not start on ${backend} (${report.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')})`,
      );
      return 1;
    }
  }

  const rows: ParityRow[] = [];
  const save = () =>
    writeFile(
      path.join(outDir, 'parity.json'),
      JSON.stringify({ engineConfig, torchConfig, torchDecay: decay, backend, device, rows }, null, 2),
    );
  for (const seed of seeds) {
    if (only !== 'torch') {
      rows.push(...(await runEngine({ ...engineConfig, seed }, args['data-dir'])));
      await save();
    }
    if (only !== 'engine') {
      rows.push(
        ...(await runTorch(
          { ...torchConfig, seed },
          {
            dataDir: args['data-dir'],
            python,
            threads,
            decay,
            device,
            configPath: path.join(outDir, `torch-config-${seed}.json`),
          },
        )),
      );
      await save();
    }
  }
  console.log(formatParityTable(rows));
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('parity.ts')) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(`error: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}
