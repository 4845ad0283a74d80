import type { EngineEvent, EvalEvent } from '../engine/events';
import type { MetricHistory, RunRecord, StepPoint } from './types';

/** Weight of the newest sample in the moving averages of throughput, step time and evaluation time. */
const SMOOTHING = 0.3;
/** Step intervals timed before an ETA is shown (the first step after a start compiles kernels and is not timed). */
export const ETA_MIN_SAMPLES = 2;

export function emptyHistory(): MetricHistory {
  return { steps: [], evals: [], revision: 0 };
}

function ema(previous: number, sample: number, first: boolean): number {
  return first ? sample : previous * (1 - SMOOTHING) + sample * SMOOTHING;
}

/** Index of the first element whose step is > `step` (arrays are sorted by step). */
function firstAfter(items: { step: number }[], step: number): number {
  let low = 0;
  let high = items.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (items[mid].step <= step) low = mid + 1;
    else high = mid;
  }
  return low;
}

/**
 * Drops the part of a history after `step`, in place: a run resumed from a checkpoint at step k replays steps
 * k+1.., so the old points after k would otherwise appear twice. Returns the same arrays in a new object.
 */
export function truncateHistory(history: MetricHistory, step: number): MetricHistory {
  const steps = firstAfter(history.steps, step);
  const evals = firstAfter(history.evals, step);
  if (steps === history.steps.length && evals === history.evals.length) return history;
  history.steps.length = steps;
  history.evals.length = evals;
  return { ...history, revision: history.revision + 1 };
}

/** Evaluations still to come after step `step` of `total` when evaluating every `every` steps and at the end. */
export function evalsLeft(step: number, total: number, every: number): number {
  if (step >= total) return 0;
  const periodic = every > 0 ? Math.floor(total / every) - Math.floor(step / every) : 0;
  const last = every > 0 && total % every === 0 ? 0 : 1;
  return periodic + last;
}

/** True when the trainer evaluates right after step `step` (every `every` steps, and after the last one). */
function evaluatesAfter(run: RunRecord, step: number): boolean {
  const every = run.config.eval.every;
  return (every > 0 && step % every === 0) || (run.totalSteps > 0 && step === run.totalSteps);
}

/**
 * The reducer for engine events: the run record and history after `event`. Step and eval points are appended in
 * place (constant cost per event however long the history); the returned history is a new object with a new
 * revision. `now` is the page clock when the event arrived (step timing for the ETA). Checkpoints are not
 * recorded here: the controller records one once IndexedDB has saved it.
 */
export function applyEngineEvent(
  run: RunRecord,
  history: MetricHistory,
  event: EngineEvent,
  now = 0,
): { run: RunRecord; history: MetricHistory } {
  switch (event.type) {
    case 'started': {
      // a fresh run evaluates its initial weights first; then (or at once when resumed) the first step compiles
      const initialEval = event.startStep === 0 && run.config.eval.every > 0;
      return {
        run: {
          ...run,
          status: 'running',
          step: event.startStep,
          totalSteps: event.totalSteps,
          stepsPerEpoch: event.stepsPerEpoch,
          backend: event.backend,
          parameters: event.parameters.total,
          error: null,
          phase: initialEval ? 'evaluating' : 'compiling',
          phaseProgress: null,
          interruptedAtStep: null,
          timedSteps: 0,
          lastStepAt: null,
          evalMsSinceStep: 0,
        },
        history: truncateHistory(history, event.startStep),
      };
    }
    case 'step': {
      const point: StepPoint = {
        step: event.step,
        epoch: event.epoch,
        loss: event.loss,
        lr: event.lr,
        imagesPerSecond: event.imagesPerSecond,
        ...(event.stage !== undefined ? { stage: event.stage } : {}),
      };
      const last = history.steps[history.steps.length - 1];
      const base = last && last.step >= event.step ? truncateHistory(history, event.step - 1) : history;
      base.steps.push(point);
      // the interval since the previous step, evaluations taken out: step time + checkpoints + other runs' turns
      const timed = run.lastStepAt !== null;
      const interval = timed ? Math.max(0, now - (run.lastStepAt as number) - run.evalMsSinceStep) : 0;
      const samples = run.timedSteps;
      return {
        run: {
          ...run,
          status: run.status === 'queued' || run.status === 'preparing' ? 'running' : run.status,
          step: event.step,
          imagesPerSecond: timed ? ema(run.imagesPerSecond, event.imagesPerSecond, samples === 0) : 0,
          msPerStep: timed ? ema(run.msPerStep, interval, samples === 0) : run.msPerStep,
          timedSteps: timed ? samples + 1 : samples,
          lastStepAt: now,
          evalMsSinceStep: 0,
          phase: evaluatesAfter(run, event.step) ? 'evaluating' : 'training',
          phaseProgress: null,
        },
        history: { ...base, revision: base.revision + 1 },
      };
    }
    case 'eval': {
      const evals = history.evals;
      const index = firstAfter(evals, event.step - 1);
      if (evals[index]?.step === event.step) evals[index] = event;
      else evals.splice(index, 0, event);
      // PCA points only on the newest eval: many evals times thousands of points would slow storage and plots
      const newest = evals.length - 1;
      if (index === newest && newest > 0 && evals[newest - 1].pca !== null)
        evals[newest - 1] = { ...evals[newest - 1], pca: null };
      const beforeFirstStep = run.lastStepAt === null;
      return {
        run: {
          ...run,
          msPerEval: ema(run.msPerEval, event.evalMs, run.msPerEval === 0),
          evalMsSinceStep: run.evalMsSinceStep + (beforeFirstStep ? 0 : event.evalMs),
          phase: run.phase === null ? null : beforeFirstStep ? 'compiling' : 'training',
          phaseProgress: null,
        },
        history: { ...history, revision: history.revision + 1 },
      };
    }
    case 'checkpoint':
      return { run, history };
    case 'error':
      return {
        run: {
          ...run,
          status: 'error',
          step: event.step,
          error: event.message,
          phase: null,
          phaseProgress: null,
          pending: null,
          lastStepAt: null,
        },
        history,
      };
    case 'paused':
      return {
        run: {
          ...run,
          status: 'paused',
          step: event.step,
          phase: null,
          phaseProgress: null,
          pending: run.pending === 'stop' ? 'stop' : null,
          lastStepAt: null,
        },
        history,
      };
    case 'finished': {
      const status =
        event.reason === 'completed' ? 'completed' : event.reason === 'stopped' ? 'stopped' : 'error';
      return {
        run: {
          ...run,
          status,
          step: event.step,
          phase: null,
          phaseProgress: null,
          pending: null,
          lastStepAt: null,
        },
        history,
      };
    }
    case 'protocol-eval': {
      // the trainer evaluates at every step it reports a protocol result for: the result joins that evaluation
      const index = history.evals.findIndex((e) => e.step === event.step);
      if (index < 0) return { run, history };
      history.evals[index] = { ...history.evals[index], protocol: event.result };
      return { run, history: { ...history, revision: history.revision + 1 } };
    }
    case 'status':
      return {
        run: {
          ...run,
          phase: event.phase,
          phaseProgress: event.progress ?? null,
          status:
            run.status === 'queued' && event.phase !== 'preparing-data' && event.phase !== 'building'
              ? 'running'
              : run.status,
        },
        history,
      };
  }
}

/**
 * Seconds left: the steps left at the measured step pace plus the evaluations left at the measured evaluation
 * time; null until a few steps have been timed (the first step after a start compiles kernels).
 */
export function etaSeconds(run: RunRecord): number | null {
  if (run.timedSteps < ETA_MIN_SAMPLES || run.totalSteps <= 0) return null;
  const steps = Math.max(0, run.totalSteps - run.step);
  const evals = evalsLeft(run.step, run.totalSteps, run.config.eval.every);
  return (steps * run.msPerStep + evals * run.msPerEval) / 1000;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) {
    const minutes = Math.floor(seconds / 60);
    const rest = Math.round(seconds % 60);
    return rest === 60 ? `${minutes + 1} min 0 s` : `${minutes} min ${rest} s`;
  }
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

/** The newest eval with PCA points. */
export function latestPca(evals: EvalEvent[]): EvalEvent | undefined {
  for (let i = evals.length - 1; i >= 0; i--) if (evals[i].pca) return evals[i];
  return undefined;
}
