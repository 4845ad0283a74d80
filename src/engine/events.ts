import type { DenseConsistency, MetricSet } from '../metrics/index';
import type { RegressionMetrics } from '../metrics/regression';
import type { RunConfig } from './config';
import type { ProtocolResult } from './protocols/results';

export type {
  ContrastiveAnalysisResult,
  FewShotResult,
  FineTuneResult,
  ProtocolResult,
  SpaceScores,
} from './protocols/results';

export type { DenseConsistency, MetricSet, RegressionMetrics };

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
  /**
   * 2-D PCA of the clean eval embeddings, n x 2 row-major, plus their labels (and of the informative embeddings
   * when the run has them).
   */
  pca: { h: number[]; z: number[]; labels: number[]; informative?: number[] } | null;
  evalMs: number;
  /**
   * The same metrics for a third representation the method defines: cmim's informative embeddings (the decoder's
   * pooled hidden states when decoding the posterior mean). Absent for every other objective.
   */
  informative?: MetricSet;
  /**
   * Dense pixel consistency of the backbone's spatial maps between two augmented views of the eval images (runs
   * whose objective pairs pixels, pixpro): mean cosine of corresponding cells and of non-corresponding ones.
   */
  dense?: DenseConsistency;
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

/**
 * The evaluation of a protocol (config.protocol): few-shot episodes and contrastive-analysis scores right after
 * each 'eval' event, of the same step; the fine-tuning stage after the last step, one event per test-accuracy
 * measurement, each holding the whole stage so far.
 */
export interface ProtocolEvalEvent {
  type: 'protocol-eval';
  step: number;
  epoch: number;
  result: ProtocolResult;
  evalMs: number;
}

export type EngineEvent =
  | StartedEvent
  | StepEvent
  | EvalEvent
  | CheckpointEvent
  | ErrorEvent
  | PausedEvent
  | FinishedEvent
  | StatusEvent
  | ProtocolEvalEvent;
