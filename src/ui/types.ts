import type { RunConfig } from '../engine/config';
import type { EvalEvent, StatusEvent } from '../engine/events';
import type { ProtocolResult } from '../engine/events';

/**
 * Where a run is in its life. 'preparing': the worker loads its data and builds its network; 'failed': it could
 * not start at all (nothing to resume or export); 'interrupted': it was training when the page closed or the
 * engine crashed (resumable from its last saved checkpoint).
 */
export type RunStatus =
  | 'preparing'
  | 'queued'
  | 'running'
  | 'paused'
  | 'completed'
  | 'stopped'
  | 'error'
  | 'failed'
  | 'interrupted';

/** What a live run is doing (the engine's status phases). */
export type RunPhase = StatusEvent['phase'];

/** A run made by the Experiments tab: which experiment, which launch of it (group) and which grid point. */
export interface ExperimentTag {
  /** Experiment id (src/experiments/catalog.ts). */
  id: string;
  /** One click on Run: every run of the grid it queued shares it. */
  group: string;
  scale: 'smoke' | 'quick' | 'full';
  /** The run's key in the grid (`tau=0.07,seed=0`), its grid point (axis name -> option label) and seed. */
  key: string;
  point: Record<string, string>;
  seed: number;
}

/** Everything the run list shows about a run; persisted in IndexedDB (without its history and checkpoint). */
export interface RunRecord {
  id: string;
  config: RunConfig;
  createdAt: number;
  status: RunStatus;
  step: number;
  totalSteps: number;
  stepsPerEpoch: number;
  /** Smoothed training throughput (images per second). */
  imagesPerSecond: number;
  /** Smoothed wall-clock milliseconds per training step, evaluations excluded (ETA). */
  msPerStep: number;
  /** Smoothed milliseconds per evaluation (ETA). */
  msPerEval: number;
  /** Step intervals timed since the run last (re)started in the worker; the ETA shows from 2 on. */
  timedSteps: number;
  backend: string | null;
  parameters: number | null;
  /** Step of the last checkpoint saved in IndexedDB (a failed save is not counted). */
  lastCheckpointStep: number | null;
  error: string | null;
  /** Key of the user-dropped dataset it trains on (null = the dataset named in config). */
  userDatasetKey: string | null;
  userDatasetName: string | null;
  /** Index into the run palette, fixed when the run is made: its colour in every chart. */
  colour: number;
  /** Class names of its dataset (PCA legend), once the worker has loaded it. */
  classes: string[] | null;
  /** What the run is doing now (null when it is not in the worker). */
  phase: RunPhase | null;
  phaseProgress: { done: number; total: number } | null;
  /** A pause or stop asked for that the worker has not confirmed yet. */
  pending: 'pause' | 'stop' | null;
  /** For an interrupted run: the step it had reached when it was cut off. */
  interruptedAtStep: number | null;
  /** The file(s) its weights were imported from. */
  importedFrom: string | null;
  /** Page clock (ms) of its last step event and the evaluation time since (ETA timing; not kept across reloads). */
  lastStepAt: number | null;
  evalMsSinceStep: number;
  /** Set on the runs of an experiment (absent on the others). */
  experiment?: ExperimentTag;
}

export interface StepPoint {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  imagesPerSecond: number;
  /** The training stage of this step (1-based), for objectives that train in stages (mcl, m3col). */
  stage?: number;
}

/**
 * The metric history of a run: every step and every eval (PCA points only on the newest eval). The arrays grow in
 * place, so a step costs the same at step 10 and at step 100,000; `revision` changes with every change.
 */
export interface MetricHistory {
  steps: StepPoint[];
  evals: StoredEval[];
  revision: number;
}

export type EmbeddingSpace = 'h' | 'z';

/** An evaluation with the protocol's results of the same step folded in ('protocol-eval' events), when any. */
export type StoredEval = EvalEvent & { protocol?: ProtocolResult };
