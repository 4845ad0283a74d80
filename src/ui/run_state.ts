import { ETA_MIN_SAMPLES, etaSeconds, formatDuration } from './history';
import type { RunRecord } from './types';

/** Runs the worker holds or is about to hold: they can be paused or stopped. */
export const ACTIVE_STATUSES = new Set(['preparing', 'queued', 'running']);

export function isActive(run: Pick<RunRecord, 'status'>): boolean {
  return ACTIVE_STATUSES.has(run.status);
}

/** What a run can do now: the buttons its row offers. */
export function runAbilities(run: RunRecord, live: boolean) {
  const active = isActive(run);
  const hasWeights = live || run.lastCheckpointStep !== null;
  const failed = run.status === 'failed';
  return {
    pause: active && run.pending === null,
    resume: !active && run.status !== 'completed' && !(failed && !hasWeights),
    stop: (active || run.status === 'paused') && run.pending !== 'stop',
    evaluate: !active && hasWeights,
    export: hasWeights,
    duplicate: !failed,
    edit: failed,
  };
}

export interface StateContext {
  /** The worker reported its backend (the engine can build runs). */
  engineReady: boolean;
}

/**
 * One line that says what a run is doing, from the moment Start is pressed: waiting for the engine, preparing
 * data, building, compiling, step k/N, evaluating i/n, saving a checkpoint, pausing or stopping after the step
 * in progress, and for a run that is not training, where it stands and where a resume would continue from.
 */
export function runStateLine(run: RunRecord, context: StateContext): string {
  const resumeFrom = run.lastCheckpointStep ?? 0;
  if (run.pending === 'stop') return 'stopping after the step in progress…';
  if (run.pending === 'pause') return 'pausing after the step in progress…';
  switch (run.status) {
    case 'preparing':
      if (!context.engineReady) return 'waiting for the engine to start…';
      return run.phase === 'building' ? 'building the network…' : 'preparing data…';
    case 'queued':
      if (!context.engineReady) return 'waiting for the engine to start…';
      if (run.phase === null || run.phase === 'preparing-data' || run.phase === 'building')
        return 'starting…';
      return 'waiting for its turn (another run is training)';
    case 'running':
      switch (run.phase) {
        case 'preparing-data':
          return 'preparing data…';
        case 'building':
          return 'building the network…';
        case 'compiling':
          return `compiling kernels for step ${run.step + 1} (the first step of a run is the slowest)…`;
        case 'evaluating': {
          const progress = run.phaseProgress;
          const what =
            run.lastStepAt === null && run.timedSteps === 0 && run.step === 0
              ? 'the initial weights'
              : `at step ${run.step}`;
          return progress
            ? `evaluating ${what}: ${progress.done}/${progress.total} images embedded…`
            : `evaluating ${what}${what === 'the initial weights' ? ' (the first evaluation compiles its kernels)' : ''}…`;
        }
        case 'checkpointing':
          return `checkpointing step ${run.step}…`;
        default:
          return `training step ${run.step + 1} of ${run.totalSteps || '?'}`;
      }
    case 'paused':
      return `paused at step ${run.step}`;
    case 'completed':
      return `completed ${run.step} steps`;
    case 'stopped':
      return run.importedFrom !== null && run.step === 0
        ? `imported weights from ${run.importedFrom}; Resume trains them further`
        : `stopped at step ${run.step}; Resume continues from step ${resumeFrom}`;
    case 'interrupted':
      return `interrupted at step ${run.interruptedAtStep ?? run.step}; Resume continues from step ${resumeFrom} (its last saved checkpoint)`;
    case 'error':
      return run.lastCheckpointStep !== null
        ? `failed at step ${run.step}; Resume continues from step ${resumeFrom}`
        : `failed at step ${run.step}`;
    case 'failed':
      return 'could not start';
  }
}

/** Pace and time left, or what is still being measured. */
export function runPace(run: RunRecord): { speed: string; eta: string } {
  if (!isActive(run)) return { speed: '', eta: '' };
  const measuring = run.timedSteps < ETA_MIN_SAMPLES;
  const speed = run.imagesPerSecond > 0 ? `${run.imagesPerSecond.toFixed(1)} img/s` : '';
  const eta = etaSeconds(run);
  return {
    speed: speed || (run.status === 'running' ? 'measuring speed…' : ''),
    eta:
      eta !== null
        ? `ETA ${formatDuration(eta)}`
        : measuring && run.status === 'running'
          ? 'ETA after a few steps'
          : '',
  };
}
