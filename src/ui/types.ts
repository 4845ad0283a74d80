import type { RunConfig } from '../engine/config';
import type { EvalEvent } from '../engine/events';

/** Where a run is in its life; 'interrupted' = it was training when the page closed (resumable from its checkpoint). */
export type RunStatus = 'queued' | 'running' | 'paused' | 'completed' | 'stopped' | 'error' | 'interrupted';

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
  /** Smoothed milliseconds per step, for the ETA. */
  msPerStep: number;
  backend: string | null;
  parameters: number | null;
  lastCheckpointStep: number | null;
  error: string | null;
  /** Key of the user-dropped dataset it trains on (null = the dataset named in config). */
  userDatasetKey: string | null;
  userDatasetName: string | null;
}

export interface StepPoint {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  imagesPerSecond: number;
}

/** The full metric history of a run: every step and every eval (PCA points only for the latest eval). */
export interface MetricHistory {
  steps: StepPoint[];
  evals: EvalEvent[];
}

export type EmbeddingSpace = 'h' | 'z';
