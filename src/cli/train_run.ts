// Node-only: the training run of `npm run train` (train.ts is the entry; this runs in its training thread).
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { initBackend, type BackendName } from '../engine/backend';
import { checkMemoryBudget, formatBytes } from '../engine/budget';
import { checkpointInfo } from '../engine/checkpoint';
import { parseRunConfig, type RunConfig } from '../engine/config';
import type { EngineEvent, EvalEvent, RegressionMetrics, StatusEvent } from '../engine/events';
import { exportSafetensors, exportTfjs } from '../engine/export';
import { firstNonFinite } from '../engine/finite';
import { Trainer, type RunOutcome } from '../engine/trainer';
import { describeProtocolResult } from '../engine/protocols/results';
import { defaultWasmThreads, installNodeWasmThreads, wasmThreadsInUse } from '../kernels/wasm/node';
import { describeNetwork } from '../nn/networks';
import { openDatasetFromDir } from './open_dataset';
import { evalExtras } from './eval_extras';
import {
  CHECKPOINT_FILE,
  CheckpointWriter,
  METRICS_FILE,
  MetricsLog,
  SUPERSEDED_FILE,
  removeStaleTemporaries,
  supersedeAfter,
  writeFileAtomic,
} from './run_outputs';
import {
  RESUME_MUTABLE_FIELDS,
  TRAIN_OPTIONS,
  applyOverrides,
  configDifferences,
  defaultOutDir,
  trainHelp,
  withResumeDefault,
} from './train';

/** A config file larger than this is not a RunConfig (the examples are under 2 KB). */
const MAX_CONFIG_FILE_BYTES = 1024 * 1024;
/** The largest checkpoint the wasm heap could hold (weights, optimizer state and loss state together). */
const MAX_CHECKPOINT_FILE_BYTES = 4 * 1024 ** 3;

/** Reads a file after checking it is a regular file of at most `maxBytes` (named `what` in errors). */
async function readCapped(file: string, maxBytes: number, what: string): Promise<Buffer> {
  let info;
  try {
    info = await stat(file);
  } catch {
    throw new Error(`${what} ${file} does not exist`);
  }
  if (!info.isFile()) throw new Error(`${what} ${file} is not a file`);
  if (info.size > maxBytes)
    throw new Error(
      `${what} ${file} is ${formatBytes(info.size)}, more than the ${formatBytes(maxBytes)} such a file can be`,
    );
  return readFile(file);
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

class UsageError extends Error {}

interface Plan {
  config: RunConfig;
  outDir: string;
  resume: { file: string; bytes: Uint8Array; step: number } | null;
}

/** Works out the run's config, output folder and checkpoint from the arguments; throws UsageError on bad input. */
async function plan(args: {
  config?: string;
  set?: string[];
  out?: string;
  resume?: string;
  overwrite?: boolean;
}): Promise<Plan> {
  let raw: unknown = undefined;
  if (args.config) {
    let text: string;
    try {
      text = (await readCapped(args.config, MAX_CONFIG_FILE_BYTES, 'the config')).toString('utf8');
    } catch (err) {
      throw new UsageError(`could not read the config: ${(err as Error).message}`);
    }
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new UsageError(`the config ${args.config} is not JSON: ${(err as Error).message}`);
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new UsageError(
        `the config ${args.config} holds ${raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw}, not a RunConfig object`,
      );
    }
  }
  const sets = args.set ?? [];
  const given = args.config !== undefined || sets.length > 0;
  const parse = (value: unknown) => {
    try {
      return parseRunConfig(applyOverrides(value as Record<string, unknown>, sets));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  };

  if (args.resume === undefined) {
    const config = parse(raw ?? {});
    const outDir = args.out ?? defaultOutDir(config);
    if (!args.overwrite) {
      const existing = [CHECKPOINT_FILE, METRICS_FILE].filter((name) => existsSync(path.join(outDir, name)));
      if (existing.length > 0) {
        throw new UsageError(
          `${outDir} already holds a run (${existing.join(', ')}): continue it with --resume, ` +
            'or pass --overwrite to start over there, or choose another --out',
        );
      }
    }
    return { config, outDir, resume: null };
  }

  if (args.overwrite) throw new UsageError('--overwrite starts a new run; it cannot go with --resume');
  let file: string;
  let outDir: string;
  if (args.resume === 'auto' || args.resume === '') {
    if (args.out) outDir = args.out;
    else if (given) outDir = defaultOutDir(parse(raw ?? {}));
    else
      throw new UsageError(
        "--resume without a FILE continues the output folder's own checkpoint: say which folder with --out (or give the --config it ran with)",
      );
    file = path.join(outDir, CHECKPOINT_FILE);
    if (!existsSync(file)) {
      throw new UsageError(
        `--resume: ${outDir} holds no ${CHECKPOINT_FILE} to continue from; start the run without --resume, or pass --resume FILE`,
      );
    }
  } else {
    file = args.resume;
    outDir = args.out ?? path.dirname(file);
  }
  let bytes: Uint8Array;
  let info;
  try {
    bytes = new Uint8Array(await readCapped(file, MAX_CHECKPOINT_FILE_BYTES, '--resume: the checkpoint'));
    info = checkpointInfo(bytes);
  } catch (err) {
    throw new UsageError(
      err instanceof UsageError || /^--resume/.test((err as Error).message)
        ? (err as Error).message
        : `--resume: ${file} cannot be resumed: ${(err as Error).message}`,
    );
  }
  let stored: RunConfig;
  try {
    stored = parseRunConfig(info.config);
  } catch (err) {
    throw new UsageError(`--resume: the config stored in ${file} is not valid: ${(err as Error).message}`);
  }
  // the checkpoint's config is the run's; --config / --set may only change what RESUME_MUTABLE_FIELDS allows
  const config =
    args.config !== undefined ? parse(raw) : sets.length > 0 ? parse(structuredClone(stored)) : stored;
  const refused = configDifferences(stored, config).filter(
    (field) => !(RESUME_MUTABLE_FIELDS as readonly string[]).includes(field),
  );
  if (refused.length > 0) {
    const valueAt = (value: unknown, field: string) =>
      JSON.stringify(field.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown>)?.[k], value));
    throw new UsageError(
      `--resume: the given config differs from the one stored in ${file} in ${refused
        .map((field) => `${field} (checkpoint ${valueAt(stored, field)}, given ${valueAt(config, field)})`)
        .join(
          ', ',
        )}. A resumed run keeps its checkpoint's config; only ${RESUME_MUTABLE_FIELDS.join(', ')} may ` +
        'change. Drop --config (and those --set) to resume, or start a new run without --resume',
    );
  }
  return { config, outDir, resume: { file, bytes, step: info.step } };
}

/** ", R^2 kNN 0.81 / linear 0.77, MAE 3.2" for an evaluation with regression metrics, else "". */
function regressionText(regression: RegressionMetrics | undefined): string {
  if (!regression) return '';
  return `, R^2 kNN ${regression.knnR2.toFixed(3)} / linear ${regression.linearR2.toFixed(3)}, MAE ${regression.knnMae.toPrecision(3)}`;
}

/** Progress on stderr: a bar on a terminal, a line every few seconds (and per evaluation) elsewhere. */
function progressReporter(mode: 'bar' | 'lines' | 'quiet', everySeconds: number) {
  const bar =
    mode === 'bar'
      ? new cliProgress.SingleBar(
          {
            format:
              ' {bar} {percentage}% | step {value}/{total} | loss {loss} | {ips} img/s | kNN {knn} | ETA {eta_formatted}',
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
  let lastKnn = '-';
  let totalSteps = 0;
  let startStep = 0;
  let startedAt = 0;
  let lastLine = -Infinity;
  let lastStep: { step: number; loss: number; ips: number } | null = null;
  const line = (text: string) => {
    if (mode === 'lines') console.error(text);
  };
  const stepLine = () => {
    if (!lastStep) return;
    const done = lastStep.step - startStep;
    const perStep = (performance.now() - startedAt) / 1000 / Math.max(done, 1);
    const eta = formatDuration((totalSteps - lastStep.step) * perStep);
    line(
      `step ${lastStep.step}/${totalSteps} (${((100 * lastStep.step) / totalSteps).toFixed(0)}%) | loss ${lastStep.loss.toFixed(4)} | ` +
        `${lastStep.ips.toFixed(0)} img/s | ETA ${eta}`,
    );
    lastLine = performance.now();
  };
  const phases: Partial<Record<StatusEvent['phase'], string>> = {
    'preparing-data': 'preparing the data',
    building: 'building the network',
    compiling: 'first step (compiling kernels)',
  };
  return {
    onEvent(event: EngineEvent) {
      if (event.type === 'started') {
        totalSteps = event.totalSteps;
        startStep = event.startStep;
        startedAt = performance.now();
        bar?.start(event.totalSteps, event.startStep, { loss: '-', ips: '-', knn: lastKnn });
      } else if (event.type === 'status') {
        const text = phases[event.phase];
        if (text) line(`${text}...`);
        else if (
          event.phase === 'evaluating' &&
          event.progress &&
          performance.now() - lastLine > everySeconds * 1000
        ) {
          line(`evaluating: ${event.progress.done}/${event.progress.total} images embedded`);
          lastLine = performance.now();
        }
      } else if (event.type === 'step') {
        lastStep = { step: event.step, loss: event.loss, ips: event.imagesPerSecond };
        bar?.update(event.step, {
          loss: event.loss.toFixed(4),
          ips: event.imagesPerSecond.toFixed(0),
          knn: lastKnn,
        });
        if (event.step === startStep + 1 || performance.now() - lastLine >= everySeconds * 1000) stepLine();
      } else if (event.type === 'eval') {
        lastKnn = (event.h.knnTop1 * 100).toFixed(1) + '%';
        if (mode === 'lines')
          console.error(
            `eval @ step ${event.step}${event.stage !== undefined ? ` (stage ${event.stage})` : ''}: kNN(h) ${lastKnn}${regressionText(event.regression)}, alignment ${event.z.alignment.toFixed(3)}, uniformity ${event.z.uniformity.toFixed(3)}, erank(z) ${event.z.effectiveRank.toFixed(1)}${evalExtras(event)}`,
          );
      } else if (event.type === 'protocol-eval' && mode === 'lines') {
        console.error(`${event.result.kind} @ step ${event.step}: ${describeProtocolResult(event.result)}`);
      }
    },
    /** Ends the bar (or prints the last step line) before other output. */
    stop() {
      if (bar) bar.stop();
      else if (lastStep && lastLine < performance.now() - 1) stepLine();
    },
  };
}

/** What main() needs from the thread that hosts it. */
export interface TrainHost {
  /** stderr is a terminal (the progress bar) or not (progress lines). */
  isTTY: boolean;
  /** Registers the handler of a stop request (SIGINT / SIGTERM received by the process). */
  onStopSignal(handler: (signal: NodeJS.Signals) => void): void;
}

export async function main(argv: string[], host: TrainHost): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: withResumeDefault(argv),
      options: TRAIN_OPTIONS,
      allowPositionals: false,
    }).values;
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${trainHelp()}`);
    return 2;
  }
  if (args.help) {
    console.log(trainHelp());
    return 0;
  }
  const progressEvery = args['progress-every'] === undefined ? 5 : Number(args['progress-every']);
  if (!(progressEvery > 0)) {
    console.error(`--progress-every must be a number of seconds > 0, got "${args['progress-every']}"`);
    return 2;
  }
  let planned: Plan;
  try {
    planned = await plan(args);
  } catch (err) {
    console.error((err as Error).message);
    return err instanceof UsageError ? 2 : 1;
  }
  const { config, outDir, resume } = planned;

  const kernels = args.kernels ?? 'project';
  if (kernels !== 'project' && kernels !== 'stock') {
    console.error(`--kernels must be project or stock, got "${kernels}"`);
    return 2;
  }
  const preferred = (args.backend as BackendName | undefined) ?? 'wasm';
  try {
    // before the backend starts: a config that cannot fit is refused with nothing allocated
    checkMemoryBudget(config, preferred);
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const threads = args.threads === undefined ? defaultWasmThreads() : Number(args.threads);
  try {
    // the wasm backend is the fall-back of every chain in Node, so it gets its threads whatever was asked for
    installNodeWasmThreads(threads);
  } catch (err) {
    console.error(`--threads: ${(err as Error).message}`);
    return 2;
  }

  // Ctrl-C / SIGTERM: stop at the next step boundary and write everything (the second one is the main
  // thread's: it quits at once, see runInThread).
  let trainer: Trainer | null = null;
  let stopSignal: NodeJS.Signals | null = null;
  host.onStopSignal((signal) => {
    if (stopSignal) return;
    stopSignal = signal;
    console.error(
      `\n${signal}: stopping after this step and writing everything (${signal} again to quit now)...`,
    );
    trainer?.stop();
  });

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
  try {
    const budget = checkMemoryBudget(config, backend.active);
    if (budget.likelyBytes > budget.limits.totalBytes)
      console.error(
        `warning: this run will likely need about ${formatBytes(budget.likelyBytes)} on ${backend.active} ` +
          `(at least ${formatBytes(budget.totalBytes)}), more than its ${formatBytes(budget.limits.totalBytes)}: ` +
          'it may run out of memory at the first step; lower batchSize if it does',
      );
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }

  const dataDir = args['data-dir'] ?? path.join('public', 'datasets', config.dataset.id);
  let dataset;
  try {
    dataset = await openDatasetFromDir(config.dataset, dataDir, config.seed);
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    return 2;
  }

  const mode = args.quiet ? 'quiet' : host.isTTY ? 'bar' : 'lines';
  const progress = progressReporter(mode, progressEvery);
  // the output folder is touched only once the run is built and its checkpoint restored: bad input changes nothing
  let metrics: MetricsLog | null = null;
  let checkpoints: CheckpointWriter | null = null;
  const onEvent = (event: EngineEvent) => {
    progress.onEvent(event);
    if (event.type === 'status') return; // what a run is doing now, not part of its history
    if (event.type === 'checkpoint') {
      // logged once it is on disk: a 'checkpoint' line in metrics.jsonl is a checkpoint a crash leaves
      if (checkpoints!.write(event.step, event.bytes))
        metrics!.append({ type: 'checkpoint', step: event.step });
      return;
    }
    metrics!.append(event);
    if (event.type === 'error') {
      progress.stop();
      console.error(`error: ${event.message}`);
    }
  };

  try {
    trainer = await Trainer.create(config, { dataset, onEvent, backend: backend.active });
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    return 2;
  }
  if (stopSignal) trainer.stop();
  console.error(`network: ${describeNetwork(trainer.network)}`);
  if (resume) {
    try {
      trainer.restore(resume.bytes);
    } catch (err) {
      trainer.dispose();
      console.error(
        `--resume: ${resume.file} does not fit this run (nothing was changed): ${(err as Error).message}`,
      );
      return 2;
    }
  }

  await mkdir(outDir, { recursive: true });
  const stale = await removeStaleTemporaries(outDir);
  if (stale.length > 0)
    console.error(`removed ${stale.join(', ')} left in ${outDir} by an interrupted write`);
  const metricsPath = path.join(outDir, METRICS_FILE);
  if (resume) {
    const moved = await supersedeAfter(outDir, resume.step);
    if (moved > 0)
      console.error(
        `${METRICS_FILE}: ${moved} lines recorded after step ${resume.step} (past the checkpoint) moved to ${SUPERSEDED_FILE}`,
      );
  } else {
    // a new run (an empty folder, or --overwrite): its history starts here
    await writeFileAtomic(metricsPath, '');
    // an earlier run's files must not pass for this one's if it is killed before writing its own
    for (const name of [SUPERSEDED_FILE, 'model.json', 'weights.bin', 'model.safetensors'])
      await rm(path.join(outDir, name), { force: true });
  }
  await writeFileAtomic(path.join(outDir, 'config.json'), JSON.stringify(config, null, 2));
  const log = new MetricsLog(metricsPath);
  metrics = log;
  checkpoints = new CheckpointWriter(
    path.join(outDir, CHECKPOINT_FILE),
    (step, error) => {
      const message = `the checkpoint of step ${step} could not be written to ${outDir} (${error.message}); training goes on and the next checkpoint tries again`;
      console.error(`\nwarning: ${message}`);
      log.append({ type: 'checkpoint-write-failed', step, message });
    },
    () => log.flush(),
  );
  if (resume) {
    log.append({ type: 'resumed', step: resume.step, checkpoint: resume.file });
    // the out folder's checkpoint is now this one (it may have come from elsewhere)
    if (path.resolve(resume.file) !== path.resolve(outDir, CHECKPOINT_FILE))
      checkpoints.write(resume.step, resume.bytes);
    else checkpoints.lastWrittenStep = resume.step;
    if (resume.step >= trainer.totalSteps) {
      console.error(
        `resumed from step ${resume.step}: the checkpoint is already ${resume.step > trainer.totalSteps ? 'past' : 'at'} the end of this run ` +
          `(${trainer.totalSteps} steps for epochs ${config.epochs}); nothing is left to train, so this writes its exports. ` +
          `To train further, raise epochs, e.g. --set epochs=${config.epochs * 2}`,
      );
    } else console.error(`resumed from step ${resume.step}`);
  }
  console.error(
    `training ${trainer.totalSteps} steps (${trainer.stepsPerEpoch} per epoch), writing to ${outDir}`,
  );

  let outcome: RunOutcome;
  try {
    outcome = await trainer.run();
  } catch (err) {
    outcome = 'error';
    console.error(`error: ${(err as Error).message}`);
  }
  progress.stop();
  // the folder's checkpoint holds the final state: a stopped run's exact step, a failed run's last good one
  if (checkpoints.lastWrittenStep !== trainer.step || checkpoints.lastError) {
    try {
      await trainer.checkpoint();
    } catch (err) {
      console.error(`the final checkpoint could not be taken: ${(err as Error).message}`);
    }
  }
  const written = ['config.json', METRICS_FILE];
  let failed = false;
  if (checkpoints.lastError) {
    failed = true;
    console.error(
      `error: ${CHECKPOINT_FILE} could not be written (${checkpoints.lastError.message}); ` +
        (checkpoints.lastWrittenStep === null
          ? 'no checkpoint of this run is on disk'
          : `the one on disk is from step ${checkpoints.lastWrittenStep}`),
    );
  } else if (checkpoints.lastWrittenStep !== null) written.push(CHECKPOINT_FILE);

  // exports, only of finite weights (after an error the trainer holds its last good checkpoint)
  const bad = trainer.network.allWeights
    .map((w) => ({ name: w.originalName, data: w.read().dataSync() as Float32Array }))
    .find((w) => firstNonFinite(w.data) >= 0);
  if (bad) {
    failed = true;
    console.error(
      `error: the weights hold NaN or Inf (${bad.name}); model.json, weights.bin and model.safetensors were not written`,
    );
  } else {
    try {
      const exportInfo = { preprocessing: trainer.preprocessing, step: trainer.step };
      const tfjs = await exportTfjs(trainer.network, config, exportInfo);
      await writeFileAtomic(path.join(outDir, 'weights.bin'), new Uint8Array(tfjs.weightsBin));
      await writeFileAtomic(path.join(outDir, 'model.json'), JSON.stringify(tfjs.modelJson));
      await writeFileAtomic(
        path.join(outDir, 'model.safetensors'),
        await exportSafetensors(trainer.network, config, exportInfo),
      );
      written.push('model.json', 'weights.bin', 'model.safetensors');
    } catch (err) {
      failed = true;
      console.error(`error: the exports could not be written: ${(err as Error).message}`);
    }
  }
  log.close();
  const lines = (await readFile(metricsPath, 'utf8')).split('\n').filter(Boolean);
  const lastEval = lines
    .map((l) => JSON.parse(l) as EvalEvent | { type: string })
    .filter((e): e is EvalEvent => e.type === 'eval')
    .pop();
  if (lastEval && outcome !== 'error') {
    console.error(
      `final: kNN top-1 (h) ${(lastEval.h.knnTop1 * 100).toFixed(2)}%${regressionText(lastEval.regression)}, alignment(z) ${lastEval.z.alignment.toFixed(4)}, ` +
        `uniformity(z) ${lastEval.z.uniformity.toFixed(4)}, effective rank h ${lastEval.h.effectiveRank.toFixed(1)} / z ${lastEval.z.effectiveRank.toFixed(1)}` +
        evalExtras(lastEval),
    );
  }
  const lastProtocol = lines
    .map((l) => JSON.parse(l) as EngineEvent)
    .filter((e) => e.type === 'protocol-eval')
    .pop();
  if (lastProtocol && outcome !== 'error')
    console.error(`final ${lastProtocol.result.kind}: ${describeProtocolResult(lastProtocol.result)}`);
  const at =
    outcome === 'error'
      ? ` (weights of step ${trainer.step}, the last good checkpoint)`
      : ` at step ${trainer.step}`;
  console.error(`${outcome}${at}; wrote ${outDir}/{${written.join(',')}}`);
  trainer.dispose();
  if (outcome === 'error' || failed) return 1;
  if (outcome === 'stopped' && stopSignal) return stopSignal === 'SIGINT' ? 130 : 143;
  return 0;
}
