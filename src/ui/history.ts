import type { EngineEvent } from '../engine/events';
import type { MetricHistory, RunRecord, StepPoint } from './types';

/** Weight of the newest sample in the exponential moving averages of throughput and step time. */
const SMOOTHING = 0.2;

export function emptyHistory(): MetricHistory {
  return { steps: [], evals: [] };
}

/**
 * Keeps PCA points only on the newest eval: a history of many evals times thousands of points would
 * make IndexedDB writes and plots slow, and the scatter shows the latest state.
 */
function keepLatestPca(evals: MetricHistory['evals']): MetricHistory['evals'] {
  return evals.map((evalEvent, index) =>
    index === evals.length - 1 || evalEvent.pca === null ? evalEvent : { ...evalEvent, pca: null },
  );
}

/**
 * Drops the part of a history after `step`: a run resumed from a checkpoint at step k replays steps
 * k+1.., so the old points after k would otherwise appear twice.
 */
export function truncateHistory(history: MetricHistory, step: number): MetricHistory {
  return {
    steps: history.steps.filter((point) => point.step <= step),
    evals: history.evals.filter((evalEvent) => evalEvent.step <= step),
  };
}

/**
 * Merges two histories of the same run (e.g. the persisted one and the one received since the page
 * loaded): one point per step, the newer (`incoming`) one winning, sorted by step.
 */
export function mergeHistories(base: MetricHistory, incoming: MetricHistory): MetricHistory {
  const steps = new Map<number, StepPoint>();
  for (const point of base.steps) steps.set(point.step, point);
  for (const point of incoming.steps) steps.set(point.step, point);
  const evals = new Map<number, MetricHistory['evals'][number]>();
  for (const evalEvent of base.evals) evals.set(evalEvent.step, evalEvent);
  for (const evalEvent of incoming.evals) evals.set(evalEvent.step, evalEvent);
  return {
    steps: [...steps.values()].sort((a, b) => a.step - b.step),
    evals: keepLatestPca([...evals.values()].sort((a, b) => a.step - b.step)),
  };
}

/**
 * The reducer for engine events: the run record and history after `event`. Pure (returns new objects),
 * so the store and the tests share it. Checkpoint bytes are not kept here (the persistence layer stores them).
 */
export function applyEngineEvent(
  run: RunRecord,
  history: MetricHistory,
  event: EngineEvent,
): { run: RunRecord; history: MetricHistory } {
  switch (event.type) {
    case 'started':
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
        },
        history: truncateHistory(history, event.startStep),
      };
    case 'step': {
      const first = run.msPerStep === 0;
      const point: StepPoint = {
        step: event.step,
        epoch: event.epoch,
        loss: event.loss,
        lr: event.lr,
        imagesPerSecond: event.imagesPerSecond,
      };
      const last = history.steps[history.steps.length - 1];
      const steps =
        last && last.step >= event.step
          ? [...truncateHistory(history, event.step - 1).steps, point]
          : [...history.steps, point];
      return {
        run: {
          ...run,
          status: run.status === 'queued' ? 'running' : run.status,
          step: event.step,
          imagesPerSecond: first
            ? event.imagesPerSecond
            : run.imagesPerSecond * (1 - SMOOTHING) + event.imagesPerSecond * SMOOTHING,
          msPerStep: first ? event.elapsedMs : run.msPerStep * (1 - SMOOTHING) + event.elapsedMs * SMOOTHING,
        },
        history: { ...history, steps },
      };
    }
    case 'eval': {
      const evals = keepLatestPca(
        [...history.evals.filter((e) => e.step !== event.step), event].sort((a, b) => a.step - b.step),
      );
      return { run, history: { ...history, evals } };
    }
    case 'checkpoint':
      return { run: { ...run, lastCheckpointStep: event.step }, history };
    case 'error':
      return {
        run: {
          ...run,
          status: 'error',
          step: event.step,
          error: event.message,
          lastCheckpointStep: event.lastCheckpointStep,
        },
        history,
      };
    case 'paused':
      return { run: { ...run, status: 'paused', step: event.step }, history };
    case 'finished': {
      const status =
        event.reason === 'completed' ? 'completed' : event.reason === 'stopped' ? 'stopped' : 'error';
      return { run: { ...run, status, step: event.step }, history };
    }
    case 'status':
      // rendered by the run list's status line (what the run is doing); nothing to record in the history
      return { run, history };
  }
}

/** Seconds left at the current pace, or null when unknown. */
export function etaSeconds(run: RunRecord): number | null {
  if (run.msPerStep <= 0 || run.totalSteps <= 0) return null;
  return ((run.totalSteps - run.step) * run.msPerStep) / 1000;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}
