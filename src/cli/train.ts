// Node-only: `npm run train -- --config run.json [...]` trains headless with the same engine the browser uses.
// This file is the entry and what the main thread needs (the option table, config helpers, signal relay); the run
// itself is train_run.ts, loaded only in the training thread, so the main thread never loads the engine.
import path from 'node:path';
import { SHARE_ENV, Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { RunConfig } from '../engine/config';
import { ENGINE_OPTIONS, optionLines } from './help';

/**
 * Config fields that may differ from the checkpoint's own when resuming: none of them changes a tensor shape or
 * the steps already taken (epochs only moves the end, and with it the learning-rate schedule of the steps left).
 */
export const RESUME_MUTABLE_FIELDS = [
  'name',
  'epochs',
  'checkpointEvery',
  'eval.every',
  'eval.pca',
  'eval.linearProbe',
] as const;

export { WASM_THREADS_MAX } from './help';

/** The option table: parseArgs reads it and --help prints it, so the two never disagree. */
export const TRAIN_OPTIONS = {
  ...ENGINE_OPTIONS,
  config: {
    type: 'string',
    short: 'c',
    value: 'FILE',
    help: 'RunConfig JSON file (see examples/); missing fields take their defaults, unknown ones are errors',
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
    help: 'output folder (default out/<config name or loss>-<seed>; with --resume FILE, the folder of FILE)',
  },
  resume: {
    type: 'string',
    short: 'r',
    value: '[FILE|auto]',
    help:
      'continue from a checkpoint.safetensors; without FILE (or "auto") from the output folder\'s own. The ' +
      `checkpoint's config is the run's: --config/--set may only change ${RESUME_MUTABLE_FIELDS.join(', ')}`,
  },
  set: {
    type: 'string',
    short: 's',
    multiple: true,
    value: 'PATH=JSON',
    help: 'override a config field, e.g. --set epochs=2 --set loss.params.tau=0.2',
  },
  overwrite: {
    type: 'boolean',
    help: 'start a new run in an output folder that already holds one (its files are replaced)',
  },
  'progress-every': {
    type: 'string',
    value: 'SECONDS',
    help: 'seconds between progress lines when stderr is not a terminal (default 5)',
  },
  quiet: { type: 'boolean', short: 'q', help: 'no progress output (metrics still go to metrics.jsonl)' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const;

export function trainHelp(): string {
  const lines = optionLines(TRAIN_OPTIONS);
  return [
    'Usage: npm run train -- --config run.json [options]',
    '',
    'Trains a contrastive encoder headless and writes to the output folder:',
    '  metrics.jsonl      one JSON event a line (started, step, eval, checkpoint, error, paused, finished, and',
    '                     resumed / checkpoint-write-failed from the CLI), appended as they happen',
    '  checkpoint.safetensors  weights + optimizer + loss state, replaced atomically at every checkpoint',
    '  config.json, model.json + weights.bin (TF.js LayersModel, outputs [h, z]), model.safetensors',
    '',
    'A crash or kill -9 leaves the last checkpoint and every event up to it; --resume continues from it.',
    'Ctrl-C (or SIGTERM) stops after the current step and writes everything; a second Ctrl-C quits at once.',
    '',
    'Options:',
    ...lines,
  ].join('\n');
}

/** Path parts that would reach an object's prototype instead of a config field. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Applies `path.to.field=value` overrides (value parsed as JSON, else kept as a string). */
export function applyOverrides(
  config: Record<string, unknown>,
  overrides: string[],
): Record<string, unknown> {
  for (const override of overrides) {
    const eq = override.indexOf('=');
    if (eq <= 0) throw new Error(`--set expects PATH=VALUE, e.g. --set epochs=2; got '${override}'`);
    const keys = override.slice(0, eq).split('.');
    if (keys.some((key) => key.trim() === ''))
      throw new Error(`--set ${override}: the path has an empty part; write it like optimizer.lr=0.01`);
    const forbidden = keys.find((key) => FORBIDDEN_KEYS.has(key));
    if (forbidden)
      throw new Error(
        `--set ${override}: '${forbidden}' is not a config field (it names an object's prototype)`,
      );
    const raw = override.slice(eq + 1);
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    let target = config;
    for (const key of keys.slice(0, -1)) {
      const next = Object.hasOwn(target, key) ? target[key] : undefined;
      if (typeof next !== 'object' || next === null || Array.isArray(next)) target[key] = {};
      target = target[key] as Record<string, unknown>;
    }
    target[keys[keys.length - 1]] = value;
  }
  return config;
}

/**
 * The default output folder, out/<name>-<seed>: the config's name reduced to letters, digits, '.', '_' and '-'
 * (no path separators, no leading dot), so no name can point outside out/.
 */
export function defaultOutDir(config: RunConfig): string {
  const safe = config.name
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[.-]+/, '')
    .replace(/-+$/, '')
    .slice(0, 80);
  return path.join('out', `${safe || config.loss.id}-${config.seed}`);
}

/** Dotted paths where two plain-JSON values differ (arrays compared whole). */
export function configDifferences(a: unknown, b: unknown, prefix = ''): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((key) => configDifferences(a[key], b[key], prefix ? `${prefix}.${key}` : key));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix || '(root)'];
}

/** parseArgs cannot take an optional value: a bare --resume (last, or before another option) means --resume auto. */
export function withResumeDefault(argv: string[]): string[] {
  const out: string[] = [];
  argv.forEach((arg, i) => {
    out.push(arg);
    const next = argv[i + 1];
    if ((arg === '--resume' || arg === '-r') && (next === undefined || next.startsWith('-')))
      out.push('auto');
  });
  return out;
}

/** workerData key of the training thread. */
const TRAIN_THREAD = 'contrastive-playground/train';

/**
 * The process's main thread only relays signals; training runs in a worker thread. A training step can hold a
 * thread for seconds, and the main thread must answer at once: `tsx file.ts` runs the script in a child process and
 * SIGKILLs it when a forwarded SIGINT/SIGTERM is not acknowledged within 30 ms (tsx's relaySignals), which would
 * turn every Ctrl-C into a kill -9. The first signal asks the training thread to stop after its step and write
 * everything; a second one exits at once (the files on disk are whole either way: run_outputs.ts).
 */
function runInThread(argv: string[]): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(trainHelp());
    process.exit(0);
  }
  const url = import.meta.url;
  // worker threads do not inherit tsx's loader: register it in the thread before loading this file
  const boot = url.endsWith('.ts')
    ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url)}); })`
    : `import(${JSON.stringify(url)})`;
  const worker = new Worker(boot, {
    eval: true,
    // shared, so that what the thread sets (Dawn's VK_ICD_FILENAMES) reaches the native code that reads it
    env: SHARE_ENV,
    workerData: {
      [TRAIN_THREAD]: { argv, isTTY: process.stderr.isTTY === true, columns: process.stderr.columns ?? 80 },
    },
  });
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      console.error(`\n${signal} again: quitting now; the output folder keeps what is already written`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    signalled = true;
    worker.postMessage({ signal });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  worker.on('error', (err: Error) => {
    console.error(`error: ${err.message}`);
    process.exit(1);
  });
  worker.on('exit', (code) => process.exit(code));
  // Under `tsx file.ts` this process is tsx's child: when tsx itself is killed outright (kill -9), nothing
  // reaches us, so notice being orphaned and go the same way instead of training on unseen.
  if (process.execArgv.some((arg) => /tsx[\\/]dist[\\/]preflight/.test(arg))) {
    const launcher = process.ppid;
    setInterval(() => {
      if (process.ppid !== launcher) process.kill(process.pid, 'SIGKILL');
    }, 250).unref();
  }
}

const threadData = isMainThread ? undefined : (workerData as Record<string, unknown> | null)?.[TRAIN_THREAD];
if (threadData) {
  const { argv, isTTY, columns } = threadData as { argv: string[]; isTTY: boolean; columns: number };
  // the thread's stderr is a pipe to the main thread's; the progress bar draws on it as on the terminal behind it
  if (isTTY) Object.assign(process.stderr, { isTTY: true, columns });
  const handlers: ((signal: NodeJS.Signals) => void)[] = [];
  parentPort!.on('message', (message: { signal?: NodeJS.Signals }) => {
    if (message.signal) handlers.forEach((handler) => handler(message.signal!));
  });
  import('./train_run')
    .then(({ main }) => main(argv, { isTTY, onStopSignal: (handler) => handlers.push(handler) }))
    .then(
      (code) => process.exit(code),
      (err) => {
        console.error(`error: ${(err as Error).message}`);
        process.exit(1);
      },
    );
} else if (
  isMainThread &&
  (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('train.ts'))
) {
  runInThread(process.argv.slice(2));
}
