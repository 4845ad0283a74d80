import { describe, expect, it } from 'vitest';
import { defaultRunConfig } from '../engine/config';
import type { EvalEvent, MetricSet } from '../engine/events';
import { applyEngineEvent, emptyHistory, etaSeconds, mergeHistories, truncateHistory } from './history';
import type { MetricHistory, RunRecord } from './types';

const metrics = (knnTop1: number): MetricSet => ({
  alignment: 1,
  uniformity: -2,
  tolerance: 0.5,
  spectrum: [2, 1],
  effectiveRank: 1.9,
  knnTop1,
});
const evalAt = (step: number, withPca = true): EvalEvent => ({
  type: 'eval',
  step,
  epoch: step / 10,
  h: metrics(step / 100),
  z: metrics(step / 200),
  linearProbeTop1: null,
  pca: withPca ? { h: [0, 1], z: [1, 0], labels: [3] } : null,
  evalMs: 5,
});

function run(): RunRecord {
  return {
    id: 'r1',
    config: defaultRunConfig(),
    createdAt: 0,
    status: 'queued',
    step: 0,
    totalSteps: 0,
    stepsPerEpoch: 0,
    imagesPerSecond: 0,
    msPerStep: 0,
    backend: null,
    parameters: null,
    lastCheckpointStep: null,
    error: null,
    userDatasetKey: null,
    userDatasetName: null,
  };
}

function reduce(
  events: Parameters<typeof applyEngineEvent>[2][],
  start: { run: RunRecord; history: MetricHistory } = { run: run(), history: emptyHistory() },
) {
  return events.reduce((state, event) => applyEngineEvent(state.run, state.history, event), start);
}

const step = (n: number, loss: number, elapsedMs = 100) => ({
  type: 'step' as const,
  step: n,
  epoch: n / 10,
  loss,
  lr: 0.1,
  imagesPerSecond: 1000 / elapsedMs,
  elapsedMs,
});
const started = (startStep: number) => ({
  type: 'started' as const,
  config: defaultRunConfig(),
  backend: 'webgpu',
  totalSteps: 10,
  stepsPerEpoch: 10,
  startStep,
  parameters: { backbone: 5, projector: 3, loss: 0, total: 8 },
});

describe('applyEngineEvent', () => {
  it('tracks status, step, totals and smoothed pace through a run', () => {
    const state = reduce([
      started(0),
      step(1, 5, 100),
      step(2, 4, 200),
      evalAt(2),
      { type: 'checkpoint', step: 2, bytes: new Uint8Array(1) },
      { type: 'finished', step: 2, reason: 'completed' },
    ]);
    expect(state.run.status).toBe('completed');
    expect(state.run.step).toBe(2);
    expect(state.run.totalSteps).toBe(10);
    expect(state.run.parameters).toBe(8);
    expect(state.run.lastCheckpointStep).toBe(2);
    // EMA with weight 0.2 on the newest sample: 100 * 0.8 + 200 * 0.2
    expect(state.run.msPerStep).toBeCloseTo(120);
    expect(state.history.steps.map((p) => p.loss)).toEqual([5, 4]);
    expect(state.history.evals).toHaveLength(1);
  });

  it('keeps the error message and the checkpoint step of a failed run', () => {
    const state = reduce([
      started(0),
      step(1, 5),
      { type: 'error', step: 0, message: 'loss became NaN', lastCheckpointStep: 0 },
      { type: 'finished', step: 0, reason: 'error' },
    ]);
    expect(state.run.status).toBe('error');
    expect(state.run.error).toBe('loss became NaN');
    expect(state.run.lastCheckpointStep).toBe(0);
  });

  it('drops history after the checkpoint a resumed run restarts from, so no step appears twice', () => {
    const first = reduce([started(0), step(1, 5), step(2, 4), step(3, 3), evalAt(3)]);
    const resumed = reduce([started(2), step(3, 2.5)], first);
    expect(resumed.history.steps.map((p) => [p.step, p.loss])).toEqual([
      [1, 5],
      [2, 4],
      [3, 2.5],
    ]);
    expect(resumed.history.evals).toHaveLength(0);
  });

  it('keeps PCA points only on the newest eval', () => {
    const state = reduce([evalAt(0), evalAt(5), evalAt(10)]);
    expect(state.history.evals.map((e) => e.pca !== null)).toEqual([false, false, true]);
    expect(state.history.evals.map((e) => e.h.knnTop1)).toEqual([0, 0.05, 0.1]);
  });

  it('gives an ETA from the smoothed step time', () => {
    const state = reduce([started(0), step(1, 5, 500)]);
    expect(etaSeconds(state.run)).toBeCloseTo(4.5); // 9 steps left x 0.5 s
  });
});

describe('mergeHistories / truncateHistory', () => {
  it('merges by step, the incoming point winning, sorted', () => {
    const base: MetricHistory = {
      steps: [step(1, 5), step(2, 4), step(3, 3)].map(({ step: s, loss }) => ({
        step: s,
        epoch: 0,
        loss,
        lr: 0.1,
        imagesPerSecond: 1,
      })),
      evals: [evalAt(0), evalAt(2)],
    };
    const incoming: MetricHistory = {
      steps: [
        { step: 4, epoch: 0, loss: 1, lr: 0.1, imagesPerSecond: 1 },
        { step: 2, epoch: 0, loss: 9, lr: 0.1, imagesPerSecond: 1 },
      ],
      evals: [evalAt(4)],
    };
    const merged = mergeHistories(base, incoming);
    expect(merged.steps.map((p) => [p.step, p.loss])).toEqual([
      [1, 5],
      [2, 9],
      [3, 3],
      [4, 1],
    ]);
    expect(merged.evals.map((e) => e.step)).toEqual([0, 2, 4]);
    expect(merged.evals.map((e) => e.pca !== null)).toEqual([false, false, true]);
  });

  it('truncates steps and evals after a step', () => {
    const history: MetricHistory = {
      steps: [1, 2, 3].map((s) => ({ step: s, epoch: 0, loss: s, lr: 0, imagesPerSecond: 0 })),
      evals: [evalAt(0), evalAt(3)],
    };
    const cut = truncateHistory(history, 2);
    expect(cut.steps.map((p) => p.step)).toEqual([1, 2]);
    expect(cut.evals.map((e) => e.step)).toEqual([0]);
  });
});
