// The app's side of an experiment: its runs as the verdict rules read them, the verdict as the panel shows it, the
// bundle export and the expected time. Plain functions of the store's records (no tfjs, no React).
import {
  decideVerdict,
  estimateCost,
  experimentBundle,
  experimentRuns,
  type ExperimentBundle,
  type ExperimentDefinition,
  type PlannedRun,
  type RunResult,
  type RunStatus as ExperimentRunStatus,
  type Verdict,
} from '../experiments/catalog';
import type { ExperimentTag, MetricHistory, RunRecord, RunStatus } from './types';

/** The sizes the app offers: the experiment's two scales, and 'smoke', a few steps per run on tiny synthetic data. */
export const APP_SCALES = ['smoke', 'quick', 'full'] as const;
export type AppScale = (typeof APP_SCALES)[number];

export const APP_SCALE_NAMES: Record<AppScale, string> = {
  smoke: 'smoke (mechanics only, seconds)',
  quick: 'quick',
  full: 'full (CIFAR-10)',
};

/** The grid's runs at an app scale ('smoke' = the quick grid with the CLI's --smoke override). */
export function plannedRuns(experiment: ExperimentDefinition, scale: AppScale): PlannedRun[] {
  return scale === 'smoke'
    ? experimentRuns(experiment, 'quick', { smoke: true })
    : experimentRuns(experiment, scale);
}

/** What an app run's status means to a verdict rule (only 'completed' runs are judged). */
export function resultStatus(status: RunStatus): ExperimentRunStatus {
  switch (status) {
    case 'completed':
      return 'completed';
    case 'error':
    case 'failed':
      return 'error';
    case 'stopped':
    case 'interrupted':
      return 'stopped';
    case 'running':
    case 'paused':
      return 'running';
    default:
      return 'pending';
  }
}

/** An app run of an experiment as a verdict rule's input (its grid point and seed come from its tag). */
export function runResult(
  run: RunRecord & { experiment: ExperimentTag },
  history: MetricHistory | undefined,
): RunResult {
  return {
    key: run.experiment.key,
    point: run.experiment.point,
    seed: run.experiment.seed,
    config: run.config,
    status: resultStatus(run.status),
    totalSteps: run.totalSteps > 0 ? run.totalSteps : null,
    ...(run.error ? { error: run.error } : {}),
    history: {
      steps: (history?.steps ?? []).map(({ step, loss }) => ({ step, loss })),
      evals: (history?.evals ?? []).map(({ step, h, z }) => ({ step, h, z })),
    },
  };
}

/** The runs of one launch of an experiment (its group), in the order they were made. */
export function groupRuns(
  runs: Record<string, RunRecord>,
  order: readonly string[],
  group: string,
): (RunRecord & { experiment: ExperimentTag })[] {
  return order
    .map((id) => runs[id])
    .filter((run): run is RunRecord & { experiment: ExperimentTag } => run?.experiment?.group === group);
}

/** The newest launch of experiment `id` among the runs (null when it never ran here). */
export function latestGroup(
  runs: Record<string, RunRecord>,
  order: readonly string[],
  id: string,
): { group: string; scale: AppScale } | null {
  let best: { group: string; scale: AppScale; createdAt: number } | null = null;
  for (const runId of order) {
    const run = runs[runId];
    const tag = run?.experiment;
    if (!tag || tag.id !== id) continue;
    if (!best || run.createdAt > best.createdAt)
      best = { group: tag.group, scale: tag.scale, createdAt: run.createdAt };
  }
  return best ? { group: best.group, scale: best.scale } : null;
}

export type PanelStatus = 'holds' | 'does not hold' | 'not yet decided' | 'inconclusive';

export interface PanelVerdict {
  status: PanelStatus;
  verdict: Verdict;
  finished: number;
  total: number;
}

const UNFINISHED: ReadonlySet<ExperimentRunStatus> = new Set(['pending', 'running']);

/**
 * The verdict of the rule on the runs so far. While a run is still to finish, an inconclusive verdict is 'not
 * yet decided'; once all have ended it stays 'inconclusive' (a failed or stopped run, a missing evaluation).
 * A rule that already decides before the last run ends says so (it only reads completed runs).
 */
export function panelVerdict(experiment: ExperimentDefinition, results: RunResult[]): PanelVerdict {
  const verdict = decideVerdict(experiment, results);
  const finished = results.filter((result) => !UNFINISHED.has(result.status)).length;
  const pending = finished < results.length;
  const status: PanelStatus =
    verdict.status === 'inconclusive' ? (pending ? 'not yet decided' : 'inconclusive') : verdict.status;
  return { status, verdict, finished, total: results.length };
}

/** The experiment's JSON export from the app's runs: the same format as `npm run experiment`'s bundle.json. */
export function appBundle(
  experiment: ExperimentDefinition,
  scale: AppScale,
  results: RunResult[],
  environment: Record<string, string>,
): ExperimentBundle {
  return experimentBundle({
    experiment,
    scale: scale === 'smoke' ? 'quick' : scale,
    smoke: scale === 'smoke',
    runs: results,
    environment,
  });
}

/** Training steps per second assumed before any run has been timed on this device, by backend. */
export const DEFAULT_STEPS_PER_SECOND: Record<string, number> = { webgpu: 4, webgl: 2, wasm: 1, cpu: 0.2 };

export interface TimeEstimate {
  seconds: number;
  steps: number;
  /** How the speed was found: timed on this device, or a default for the backend. */
  basis: string;
}

/**
 * Expected wall time of a grid: its total training steps over a speed in steps per second, scaled by batch size
 * from the runs timed on this device (the median images/s of the runs that recorded one), or the backend's
 * default steps/s when none has. Evaluations are not counted, so it is a lower bound.
 */
export function expectedTime(
  planned: PlannedRun[],
  timed: readonly Pick<RunRecord, 'imagesPerSecond'>[],
  backend: string | null,
): TimeEstimate {
  const cost = estimateCost(planned);
  const speeds = timed
    .map((run) => run.imagesPerSecond)
    .filter((speed) => Number.isFinite(speed) && speed > 0)
    .sort((a, b) => a - b);
  if (speeds.length > 0) {
    const imagesPerSecond = speeds[Math.floor(speeds.length / 2)];
    return {
      seconds: cost.trainImages / imagesPerSecond,
      steps: cost.steps,
      basis: `at ${imagesPerSecond.toPrecision(3)} images/s, the median of ${speeds.length} run${speeds.length === 1 ? '' : 's'} timed on this device`,
    };
  }
  const stepsPerSecond = DEFAULT_STEPS_PER_SECOND[backend ?? ''] ?? 1;
  return {
    seconds: cost.steps / stepsPerSecond,
    steps: cost.steps,
    basis: `at a default ${stepsPerSecond} steps/s for ${backend ?? 'an unknown backend'} (no run timed here yet)`,
  };
}
