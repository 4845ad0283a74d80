// Node-only: `npm run train -- --config run.json [...]` trains headless with the same engine the browser uses.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { initBackend, type BackendName } from '../engine/backend';
import {
  MAX_WASM_THREADS,
  defaultWasmThreads,
  installNodeWasmThreads,
  wasmThreadsInUse,
} from '../kernels/wasm/node';
import { parseRunConfig } from '../engine/config';
import { openDatasetFromDir } from './open_dataset';
import type { EngineEvent } from '../engine/events';
import { exportSafetensors, exportTfjs } from '../engine/export';
import { Trainer } from '../engine/trainer';
import { describeNetwork } from '../nn/networks';

/** The option table: parseArgs reads it and --help prints it, so the two never disagree. */
export const TRAIN_OPTIONS = {
  config: {
    type: 'string',
    short: 'c',
    value: 'FILE',
    help: 'RunConfig JSON file (see examples/); missing fields take their defaults',
  },
  backend: {
    type: 'string',
    short: 'b',
    value: 'NAME',
    help: 'wasm (default), cpu or webgpu (Dawn through the `webgpu` package)',
  },
  kernels: {
    type: 'string',
    short: 'k',
    value: 'WHICH',
    help: "project (default: the project's faster kernels) or stock (TF.js's own)",
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
    help: 'output folder (default out/<config name or loss>-<seed>)',
  },
  resume: {
    type: 'string',
    short: 'r',
    value: 'FILE',
    help: 'continue from a checkpoint.safetensors written by an earlier run',
  },
  set: {
    type: 'string',
    short: 's',
    multiple: true,
    value: 'PATH=JSON',
    help: 'override a config field, e.g. --set epochs=2 --set loss.params.tau=0.2',
  },
  threads: {
    type: 'string',
    short: 't',
    value: 'N',
    help: `wasm threads (default half the logical cores, as tfjs sizes it, 1 to ${MAX_WASM_THREADS}; 1 = tfjs' single-threaded build)`,
  },
  quiet: { type: 'boolean', short: 'q', help: 'no progress bar (metrics still go to metrics.jsonl)' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const;

export function trainHelp(): string {
  const lines = Object.entries(TRAIN_OPTIONS).map(([name, o]) => {
    const flag = `-${o.short}, --${name}${'value' in o ? ` ${o.value}` : ''}`;
    return `  ${flag.padEnd(28)} ${o.help}`;
  });
  return [
    'Usage: npm run train -- --config run.json [options]',
    '',
    'Trains a contrastive encoder headless and writes to the output folder:',
    '  metrics.jsonl (one JSON event per line: step, eval, checkpoint, error, finished), config.json,',
    '  model.json + weights.bin (TF.js LayersModel, outputs [h, z]), model.safetensors, checkpoint.safetensors',
    '',
    'Options:',
    ...lines,
  ].join('\n');
}

/** Applies `path.to.field=value` overrides (value parsed as JSON, else kept as a string). */
export function applyOverrides(
  config: Record<string, unknown>,
  overrides: string[],
): Record<string, unknown> {
  for (const override of overrides) {
    const eq = override.indexOf('=');
    if (eq <= 0) throw new Error(`--set expects PATH=VALUE, e.g. --set epochs=2; got '${override}'`);
    const keys = override.slice(0, eq).split('.');
    const raw = override.slice(eq + 1);
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    let target = config;
    for (const key of keys.slice(0, -1)) {
      if (typeof target[key] !== 'object' || target[key] === null) target[key] = {};
      target = target[key] as Record<string, unknown>;
    }
    target[keys[keys.length - 1]] = value;
  }
  return config;
}

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({ args: argv, options: TRAIN_OPTIONS, allowPositionals: false }).values;
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${trainHelp()}`);
    return 2;
  }
  if (args.help) {
    console.log(trainHelp());
    return 0;
  }
  let raw: Record<string, unknown> = {};
  if (args.config) {
    try {
      raw = JSON.parse(await readFile(args.config, 'utf8'));
    } catch (err) {
      console.error(`could not read the config ${args.config}: ${(err as Error).message}`);
      return 2;
    }
  }
  let config;
  try {
    config = parseRunConfig(applyOverrides(raw, args.set ?? []));
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }

  const kernels = args.kernels ?? 'project';
  if (kernels !== 'project' && kernels !== 'stock') {
    console.error(`--kernels must be project or stock, got "${kernels}"`);
    return 2;
  }
  const preferred = (args.backend as BackendName | undefined) ?? 'wasm';
  const threads = args.threads === undefined ? defaultWasmThreads() : Number(args.threads);
  try {
    // the wasm backend is the fall-back of every chain in Node, so it gets its threads whatever was asked for
    installNodeWasmThreads(threads);
  } catch (err) {
    console.error(`--threads: ${(err as Error).message}`);
    return 2;
  }
  if (preferred === 'webgpu') {
    // loaded only when asked for: it pulls in Dawn's native module
    const { installNodeWebGPU } = await import('../kernels/webgpu/node');
    await installNodeWebGPU();
  }
  const backend = await initBackend({ preferred, environment: 'node', kernels });
  for (const skipped of backend.skipped) console.error(`backend ${skipped.name} skipped: ${skipped.reason}`);
  const where = backend.adapter
    ? ` (${backend.adapter})`
    : backend.active === 'wasm'
      ? ` (${wasmThreadsInUse()} threads)`
      : '';
  console.error(
    `backend: ${backend.active}${where}; project kernels: ${backend.kernels.join(', ') || 'none'}`,
  );

  const dataDir = args['data-dir'] ?? path.join('public', 'datasets', config.dataset.id);
  const dataset = await openDatasetFromDir(config.dataset, dataDir, config.seed);
  const outDir = args.out ?? path.join('out', `${config.name || config.loss.id}-${config.seed}`);
  await mkdir(outDir, { recursive: true });
  await writeFile(path.join(outDir, 'config.json'), JSON.stringify(config, null, 2));
  const metricsPath = path.join(outDir, 'metrics.jsonl');
  const lines: string[] = [];

  const bar = args.quiet
    ? null
    : new cliProgress.SingleBar(
        {
          format:
            ' {bar} {percentage}% | step {value}/{total} | loss {loss} | {ips} img/s | kNN {knn} | ETA {eta_formatted}',
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      );
  let lastKnn = '-';
  // Checkpoints arrive as events while training goes on; each is written to a temporary file and renamed
  // over checkpoint.safetensors, one after the other, so two writes never interleave in one file and a
  // crash mid-write leaves the previous checkpoint whole. The chain is awaited before the CLI exits.
  const checkpointPath = path.join(outDir, 'checkpoint.safetensors');
  let checkpointWrites: Promise<void> = Promise.resolve();
  const saveCheckpoint = (bytes: Uint8Array) => {
    checkpointWrites = checkpointWrites.then(async () => {
      await writeFile(checkpointPath + '.tmp', bytes);
      await rename(checkpointPath + '.tmp', checkpointPath);
    });
  };
  const onEvent = (event: EngineEvent) => {
    const { bytes: _bytes, ...printable } = event as EngineEvent & { bytes?: Uint8Array };
    lines.push(JSON.stringify(printable));
    if (event.type === 'started') {
      bar?.start(event.totalSteps, event.startStep, { loss: '-', ips: '-', knn: lastKnn });
    } else if (event.type === 'step') {
      bar?.update(event.step, {
        loss: event.loss.toFixed(4),
        ips: event.imagesPerSecond.toFixed(0),
        knn: lastKnn,
      });
    } else if (event.type === 'eval') {
      lastKnn = (event.h.knnTop1 * 100).toFixed(1) + '%';
      if (!bar)
        console.error(
          `eval @ step ${event.step}: kNN(h) ${lastKnn}, alignment ${event.z.alignment.toFixed(3)}, uniformity ${event.z.uniformity.toFixed(3)}, erank(z) ${event.z.effectiveRank.toFixed(1)}`,
        );
    } else if (event.type === 'checkpoint') {
      saveCheckpoint(event.bytes);
    } else if (event.type === 'error') {
      bar?.stop();
      console.error(`error: ${event.message}`);
    }
  };

  const trainer = await Trainer.create(config, { dataset, onEvent, backend: backend.active });
  console.error(`network: ${describeNetwork(trainer.network)}`);
  console.error(
    `training ${trainer.totalSteps} steps (${trainer.stepsPerEpoch} per epoch), writing to ${outDir}`,
  );
  if (args.resume) {
    if (!existsSync(args.resume)) {
      console.error(`--resume: ${args.resume} does not exist`);
      return 2;
    }
    trainer.restore(new Uint8Array(await readFile(args.resume)));
    console.error(`resumed from step ${trainer.step}`);
  }
  let stopping = false;
  process.on('SIGINT', () => {
    if (stopping) process.exit(130);
    stopping = true;
    console.error('\nstopping after this step (Ctrl-C again to quit now)...');
    trainer.stop();
  });
  const outcome = await trainer.run();
  bar?.stop();
  await checkpointWrites;
  await writeFile(metricsPath, lines.join('\n') + '\n');
  const exportInfo = { preprocessing: trainer.preprocessing, step: trainer.step };
  const tfjs = await exportTfjs(trainer.network, config, exportInfo);
  await writeFile(path.join(outDir, 'model.json'), JSON.stringify(tfjs.modelJson));
  await writeFile(path.join(outDir, 'weights.bin'), new Uint8Array(tfjs.weightsBin));
  await writeFile(
    path.join(outDir, 'model.safetensors'),
    await exportSafetensors(trainer.network, config, exportInfo),
  );
  const lastEval = lines
    .map((l) => JSON.parse(l))
    .filter((e) => e.type === 'eval')
    .pop();
  if (lastEval) {
    console.error(
      `final: kNN top-1 (h) ${(lastEval.h.knnTop1 * 100).toFixed(2)}%, alignment(z) ${lastEval.z.alignment.toFixed(4)}, ` +
        `uniformity(z) ${lastEval.z.uniformity.toFixed(4)}, effective rank h ${lastEval.h.effectiveRank.toFixed(1)} / z ${lastEval.z.effectiveRank.toFixed(1)}`,
    );
  }
  console.error(
    `${outcome}; wrote ${outDir}/{metrics.jsonl,config.json,model.json,weights.bin,model.safetensors,checkpoint.safetensors}`,
  );
  trainer.dispose();
  return outcome === 'error' ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('train.ts')) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(`error: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}
