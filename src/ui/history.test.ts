import { describe, expect, it } from 'vitest';
import { defaultRunConfig } from '../engine/config';
import type { EngineEvent, EvalEvent, MetricSet } from '../engine/events';
import { restoredRun } from './controller';
import { applyEngineEvent, emptyHistory, etaSeconds, evalsLeft, truncateHistory } from './history';
import { runAbilities, runPace, runStateLine } from './run_state';
import type { MetricHistory, RunRecord } from './types';

const metrics = (knnTop1: number): MetricSet => ({
  alignment: 1,
  uniformity: -2,
  tolerance: 0.5,
  spectrum: [2, 1],
  effectiveRank: 1.9,
  knnTop1,
});
const evalAt = (step: number, withPca = true, evalMs = 5): EvalEvent => ({
  type: 'eval',
  step,
  epoch: step / 10,
  h: metrics(step / 100),
  z: metrics(step / 200),
  linearProbeTop1: null,
  pca: withPca ? { h: [0, 1], z: [1, 0], labels: [3] } : null,
  evalMs,
});

/** A run of 10 steps that evaluates every 5 steps. */
function run(): RunRecord {
  return {
    ...restoredRun({
      id: 'r1',
      config: defaultRunConfig({ eval: { every: 5 } }),
      status: 'queued',
      step: 0,
    }),
    status: 'queued',
  };
}

type Timed = { event: EngineEvent; at?: number };

function reduce(events: (EngineEvent | Timed)[], start = { run: run(), history: emptyHistory() }) {
  return events.reduce((state, item) => {
    const { event, at } = 'event' in item ? item : { event: item, at: 0 };
    return applyEngineEvent(state.run, state.history, event, at ?? 0);
  }, start);
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
  it('tracks status, step, totals and phases through a run', () => {
    let state = reduce([started(0)]);
    expect(state.run).toMatchObject({
      status: 'running',
      totalSteps: 10,
      parameters: 8,
      phase: 'evaluating',
    });
    state = reduce([evalAt(0)], state);
    expect(state.run.phase).toBe('compiling'); // the initial evaluation is done: the first step compiles
    state = reduce([step(1, 5)], state);
    expect(state.run.phase).toBe('training');
    state = reduce([step(5, 4)], state);
    expect(state.run.phase).toBe('evaluating'); // step 5 of an every-5 run evaluates next
    state = reduce(
      [{ type: 'status', step: 5, phase: 'evaluating', progress: { done: 256, total: 1024 } }],
      state,
    );
    expect(state.run.phaseProgress).toEqual({ done: 256, total: 1024 });
    state = reduce(
      [
        { type: 'checkpoint', step: 5, bytes: new Uint8Array(1) },
        { type: 'finished', step: 5, reason: 'completed' },
      ],
      state,
    );
    expect(state.run).toMatchObject({ status: 'completed', step: 5, phase: null });
    // a checkpoint is recorded by the controller once IndexedDB saved it, not when the worker made it
    expect(state.run.lastCheckpointStep).toBeNull();
    expect(state.history.steps.map((p) => p.loss)).toEqual([5, 4]);
  });

  it('appends in place: a step costs the same however long the history is', () => {
    let state = reduce([started(0)]);
    const steps = state.history.steps;
    for (let i = 1; i <= 5000; i++) state = reduce([step(i, 1 / i)], state);
    expect(state.history.steps).toBe(steps); // the same array, grown, never copied
    expect(steps).toHaveLength(5000);
    const before = state.history;
    state = reduce([step(5001, 0.1)], state);
    expect(state.history).not.toBe(before); // a new object for React, with a new revision
    expect(state.history.revision).toBeGreaterThan(before.revision);
  });

  it('keeps the error message; the saved checkpoint step stays the one IndexedDB holds', () => {
    const state = reduce([
      started(0),
      step(1, 5),
      { type: 'error', step: 0, message: 'loss became NaN', lastCheckpointStep: 0 },
      { type: 'finished', step: 0, reason: 'error' },
    ]);
    expect(state.run.status).toBe('error');
    expect(state.run.error).toBe('loss became NaN');
    expect(state.run.lastCheckpointStep).toBeNull();
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

  it('clears a pending pause when the worker confirms it, and keeps a pending stop', () => {
    const paused = applyEngineEvent({ ...run(), status: 'running', pending: 'pause' }, emptyHistory(), {
      type: 'paused',
      step: 3,
    });
    expect(paused.run).toMatchObject({ status: 'paused', pending: null, step: 3 });
    const stopping = applyEngineEvent({ ...run(), status: 'running', pending: 'stop' }, emptyHistory(), {
      type: 'paused',
      step: 3,
    });
    expect(stopping.run.pending).toBe('stop');
  });
});

describe('ETA', () => {
  it('settles after a few steps, leaves the compiling first step out and counts evaluation time', () => {
    // step 1 took 60 s (kernels compile), then 1 s a step; step 5 is followed by a 4 s evaluation
    let state = reduce([
      { event: started(0), at: 0 },
      { event: evalAt(0, true, 4000), at: 4000 },
    ]);
    state = reduce([{ event: step(1, 5), at: 64_000 }], state);
    expect(etaSeconds(state.run)).toBeNull();
    expect(runPace(state.run).eta).toBe('ETA after a few steps');
    state = reduce([{ event: step(2, 5), at: 65_000 }], state);
    expect(etaSeconds(state.run)).toBeNull();
    state = reduce([{ event: step(3, 5), at: 66_000 }], state);
    // 7 steps left at 1 s, and the evaluations after steps 5 and 10 at 4 s each
    expect(etaSeconds(state.run)).toBeCloseTo(7 + 2 * 4);
    state = reduce(
      [
        { event: step(4, 5), at: 67_000 },
        { event: step(5, 5), at: 68_000 },
        { event: evalAt(5, true, 4000), at: 72_000 },
        { event: step(6, 5), at: 73_000 },
      ],
      state,
    );
    // the 5 s between steps 5 and 6 held a 4 s evaluation: the step pace stays 1 s
    expect(state.run.msPerStep).toBeCloseTo(1000);
    expect(etaSeconds(state.run)).toBeCloseTo(4 + 4);
  });

  it('counts the evaluations left, the final one included', () => {
    expect(evalsLeft(0, 10, 5)).toBe(2);
    expect(evalsLeft(5, 10, 5)).toBe(1);
    expect(evalsLeft(0, 12, 5)).toBe(3); // steps 5, 10 and the last, 12
    expect(evalsLeft(3, 10, 0)).toBe(1);
    expect(evalsLeft(10, 10, 5)).toBe(0);
  });
});

describe('truncateHistory', () => {
  it('truncates steps and evals after a step', () => {
    const history: MetricHistory = {
      steps: [1, 2, 3].map((s) => ({ step: s, epoch: 0, loss: s, lr: 0, imagesPerSecond: 0 })),
      evals: [evalAt(0), evalAt(3)],
      revision: 0,
    };
    const cut = truncateHistory(history, 2);
    expect(cut.steps.map((p) => p.step)).toEqual([1, 2]);
    expect(cut.evals.map((e) => e.step)).toEqual([0]);
    expect(cut.revision).toBe(1);
  });
});

describe('the run state line', () => {
  const engine = { engineReady: true };

  it('says what a run does from the moment Start is pressed', () => {
    const queued = run();
    expect(runStateLine(queued, { engineReady: false })).toBe('waiting for the engine to start…');
    expect(runStateLine(queued, engine)).toBe('starting…');
    expect(runStateLine({ ...queued, status: 'preparing', phase: 'preparing-data' }, engine)).toBe(
      'preparing data…',
    );
    let state = reduce([started(0)]);
    expect(runStateLine(state.run, engine)).toBe(
      'evaluating the initial weights (the first evaluation compiles its kernels)…',
    );
    state = reduce([evalAt(0)], state);
    expect(runStateLine(state.run, engine)).toMatch(/^compiling kernels for step 1/);
    state = reduce([step(1, 3)], state);
    expect(runStateLine(state.run, engine)).toBe('training step 2 of 10');
    expect(runStateLine({ ...state.run, pending: 'pause' }, engine)).toBe(
      'pausing after the step in progress…',
    );
    expect(runStateLine({ ...state.run, pending: 'stop' }, engine)).toBe(
      'stopping after the step in progress…',
    );
  });

  it('says from which step an interrupted or stopped run resumes', () => {
    const interrupted = restoredRun({ ...run(), status: 'running', step: 37, lastCheckpointStep: 30 });
    expect(interrupted.status).toBe('interrupted');
    expect(runStateLine(interrupted, engine)).toBe(
      'interrupted at step 37; Resume continues from step 30 (its last saved checkpoint)',
    );
    expect(runStateLine({ ...run(), status: 'stopped', step: 4, lastCheckpointStep: 4 }, engine)).toBe(
      'stopped at step 4; Resume continues from step 4',
    );
  });

  it('offers a run that could not start only what it can do', () => {
    const failed = { ...run(), status: 'failed' as const, error: 'no data' };
    expect(runAbilities(failed, false)).toMatchObject({
      pause: false,
      resume: false,
      stop: false,
      evaluate: false,
      export: false,
      duplicate: false,
      edit: true,
    });
    const running = { ...run(), status: 'running' as const, lastCheckpointStep: 0 };
    expect(runAbilities(running, true)).toMatchObject({
      pause: true,
      stop: true,
      resume: false,
      export: true,
    });
    expect(runAbilities({ ...running, pending: 'pause' as const }, true).pause).toBe(false);
  });
});
