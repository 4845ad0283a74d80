import type { MetricSet } from '../metrics/index';
import type { RegressionMetrics } from '../metrics/regression';
import type { RunConfig } from './config';

export type { MetricSet, RegressionMetrics };

/** Plain-data events the engine emits; the worker forwards them as-is and the UI only renders them. */

export interface StepEvent {
  type: 'step';
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  /** Training instances (batch images, each seen in all views) per second over this step. */
  imagesPerSecond: number;
  elapsedMs: number;
  /** The stage this step trained in (1-based), for objectives that train in stages (mcl, m3col's phases). */
  stage?: number;
}

export interface EvalEvent {
  type: 'eval';
  step: number;
  epoch: number;
  h: MetricSet;
  z: MetricSet;
  linearProbeTop1: number | null;
  /** 2-D PCA of the clean eval embeddings, n x 2 row-major, plus their labels. */
  pca: { h: number[]; z: number[]; labels: number[] } | null;
  evalMs: number;
  /** Regression metrics of h, when the dataset has a continuous target per image (RunConfig dataset.target). */
  regression?: RegressionMetrics;
  /** The training stage at this evaluation (1-based), for objectives that train in stages. */
  stage?: number;
}

export interface CheckpointEvent {
  type: 'checkpoint';
  step: number;
  /** The serialised checkpoint (safetensors bytes with the RunConfig and trainer state in its metadata). */
  bytes: Uint8Array;
}

export interface StartedEvent {
  type: 'started';
  config: RunConfig;
  backend: string;
  totalSteps: number;
  stepsPerEpoch: number;
  startStep: number;
  parameters: { backbone: number; projector: number; loss: number; total: number };
}

export interface ErrorEvent {
  type: 'error';
  step: number;
  message: string;
  /** Step of the last good checkpoint kept (null when none was taken yet). */
  lastCheckpointStep: number | null;
}

export interface PausedEvent {
  type: 'paused';
  step: number;
}

export interface FinishedEvent {
  type: 'finished';
  step: number;
  reason: 'completed' | 'stopped' | 'error';
}

/** What a run is doing now, for a status line; emitted whenever the phase changes (and during evaluation). */
export interface StatusEvent {
  type: 'status';
  step: number;
  phase: 'preparing-data' | 'building' | 'compiling' | 'training' | 'evaluating' | 'checkpointing';
  /** While evaluating: the images embedded so far and in all. */
  progress?: { done: number; total: number };
}

export type EngineEvent =
  | StartedEvent
  | StepEvent
  | EvalEvent
  | CheckpointEvent
  | ErrorEvent
  | PausedEvent
  | FinishedEvent
  | StatusEvent;
