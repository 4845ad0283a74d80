// Trains the runs of an experiment with the engine's Trainer, one after the other, and records their histories.
import type { RunConfig } from '../engine/config';
import type { Dataset } from '../engine/data/types';
import type { EngineEvent } from '../engine/events';
import { Trainer } from '../engine/trainer';
import { experimentRuns, type PlanOptions } from './plan';
import type { ExperimentDefinition, PlannedRun, RunResult, Scale } from './types';

export interface RunnerOptions {
  /** Opens the dataset a config names (Node: from a folder; tests: synthetic). Called once per distinct dataset. */
  openDataset: (spec: RunConfig['dataset'], seed: number) => Promise<Dataset>;
  /** Name of the active tfjs backend, for the 'started' events. */
  backend?: string;
  /** Every engine event of every run, as it happens. */
  onEvent?: (run: PlannedRun, event: EngineEvent) => void;
  /** Before a run trains; return a result to keep it instead of training (a finished run found on disk). */
  reuse?: (run: PlannedRun) => Promise<RunResult | null>;
  /** After a run trained, before its trainer is disposed (exports of its weights). */
  afterRun?: (run: PlannedRun, trainer: Trainer, result: RunResult) => Promise<void>;
  /** After each run (reused or trained), with its result; awaited before the next run starts. */
  onResult?: (result: RunResult, index: number, total: number, reused: boolean) => void | Promise<void>;
}

/** Keys datasets so that runs on the same data share one loaded copy (synthetic data depends on the seed). */
function datasetKey(spec: RunConfig['dataset'], seed: number): string {
  return spec.id === 'synthetic' ? JSON.stringify({ ...spec.synthetic, seed }) : spec.id;
}

/**
 * Trains one planned run to its end and returns what it recorded. A run that fails (a bad config for the data, a
 * step error, a non-finite loss) is returned with status 'error' and its message: the experiment goes on, and the
 * verdict calls it inconclusive.
 */
export async function trainRun(
  run: PlannedRun,
  dataset: Dataset,
  options: Pick<RunnerOptions, 'backend' | 'onEvent' | 'afterRun'> = {},
): Promise<RunResult> {
  const result: RunResult = {
    ...run,
    status: 'running',
    totalSteps: null,
    history: { steps: [], evals: [] },
  };
  const started = performance.now();
  const onEvent = (event: EngineEvent) => {
    options.onEvent?.(run, event);
    switch (event.type) {
      case 'started':
        result.totalSteps = event.totalSteps;
        break;
      case 'step':
        result.history.steps.push({ step: event.step, loss: event.loss });
        break;
      case 'eval':
        result.history.evals.push({ step: event.step, h: event.h, z: event.z });
        break;
      case 'error':
        result.error = event.message;
        break;
    }
  };
  let trainer: Trainer | null = null;
  try {
    trainer = await Trainer.create(run.config, { dataset, onEvent, backend: options.backend });
    result.totalSteps = trainer.totalSteps;
    const outcome = await trainer.run();
    result.status = outcome === 'completed' ? 'completed' : outcome === 'error' ? 'error' : 'stopped';
    result.wallSeconds = (performance.now() - started) / 1000;
    await options.afterRun?.(run, trainer, result);
  } catch (err) {
    result.status = 'error';
    result.error = (err as Error).message;
    result.wallSeconds = (performance.now() - started) / 1000;
  } finally {
    trainer?.dispose();
  }
  return result;
}

/** Trains every run of `definition` at `scale` (or the mechanics check with `smoke`), in grid order. */
export async function runExperiment(
  definition: ExperimentDefinition,
  scale: Scale,
  options: RunnerOptions & PlanOptions & { only?: (run: PlannedRun) => boolean },
): Promise<RunResult[]> {
  const planned = experimentRuns(definition, scale, options).filter((run) => options.only?.(run) ?? true);
  const datasets = new Map<string, Promise<Dataset>>();
  const results: RunResult[] = [];
  for (const [index, run] of planned.entries()) {
    let result = (await options.reuse?.(run)) ?? null;
    const reused = result !== null;
    if (!result) {
      const key = datasetKey(run.config.dataset, run.config.seed);
      if (!datasets.has(key)) datasets.set(key, options.openDataset(run.config.dataset, run.config.seed));
      let dataset: Dataset;
      try {
        dataset = await (datasets.get(key) as Promise<Dataset>);
      } catch (err) {
        // the data cannot be opened: a setup error, not a result
        throw new Error(`run ${run.key}: ${(err as Error).message}`, { cause: err });
      }
      result = await trainRun(run, dataset, options);
    }
    results.push(result);
    await options.onResult?.(result, index, planned.length, reused);
  }
  return results;
}
