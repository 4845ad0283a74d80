import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { BUNDLE_FORMAT, EXPERIMENT_IDS, experimentById, type RunResult } from '../experiments/catalog';
import { recorded } from '../experiments/verdict_testing';
import { restoredRun } from './controller';
import {
  appBundle,
  expectedTime,
  groupRuns,
  latestGroup,
  panelVerdict,
  plannedRuns,
  resultStatus,
  runResult,
} from './experiment_runs';
import { ExperimentsTab } from './experiments_tab';
import type { MetricHistory, RunRecord, RunStatus } from './types';

const temperature = experimentById('temperature');
const TAUS = ['0.07', '0.2', '0.5', '1'];

/** The temperature grid recorded with final uniformity / tolerance per tau (rising: the claim holds). */
function results(uniformity: number[], tolerance = [0.21, 0.3, 0.42, 0.55]): RunResult[] {
  return recorded(temperature, (point) => {
    const i = TAUS.indexOf(point.tau);
    return { z: { uniformity: uniformity[i], tolerance: tolerance[i] } };
  });
}

/** The same runs as the app holds them: run records tagged with one group, and histories of engine events. */
function inApp(
  from: RunResult[],
  group: string,
  status: (i: number) => RunStatus = () => 'completed',
  createdAt = 1000,
): { runs: Record<string, RunRecord>; order: string[]; histories: Record<string, MetricHistory> } {
  const runs: Record<string, RunRecord> = {};
  const histories: Record<string, MetricHistory> = {};
  const order: string[] = [];
  from.forEach((result, i) => {
    const id = `${group}-${i}`;
    runs[id] = {
      ...restoredRun({ id, config: result.config, status: 'stopped', step: result.totalSteps ?? 0 }),
      status: status(i),
      totalSteps: result.totalSteps ?? 0,
      createdAt: createdAt + i,
      experiment: {
        id: 'temperature',
        group,
        scale: 'quick',
        key: result.key,
        point: result.point,
        seed: result.seed,
      },
    };
    histories[id] = {
      steps: result.history.steps.map(({ step, loss }) => ({
        step,
        loss,
        epoch: 1,
        lr: 1e-3,
        imagesPerSecond: 50,
      })),
      evals: result.history.evals.map(({ step, h, z }) => ({
        type: 'eval',
        step,
        epoch: 1,
        h,
        z,
        linearProbeTop1: null,
        pca: { h: [0, 1], z: [1, 0], labels: [2] },
        evalMs: 20,
      })),
      revision: 1,
    };
    order.push(id);
  });
  return { runs, order, histories };
}

function verdictOf(app: ReturnType<typeof inApp>, group: string) {
  const members = groupRuns(app.runs, app.order, group);
  return panelVerdict(
    temperature,
    members.map((run) => runResult(run, app.histories[run.id])),
  );
}

describe('the verdict panel reads the app runs of an experiment', () => {
  it('holds on histories where the claim holds, with the observed numbers', () => {
    const app = inApp(results([-3.41, -3.02, -2.55, -2.1]), 'g1');
    const decided = verdictOf(app, 'g1');
    expect(decided.status).toBe('holds');
    expect(decided.finished).toBe(4);
    expect(decided.verdict.observed).toContain('uniformity(z) -3.41 / -3.02 / -2.55 / -2.10');
  });

  it('does not hold when uniformity falls with tau', () => {
    expect(verdictOf(inApp(results([-2.1, -2.5, -3.0, -3.4]), 'g1'), 'g1').status).toBe('does not hold');
  });

  it('is not yet decided while a run trains, and inconclusive once every run ended without one finishing', () => {
    const unfinished = results([-3.41, -3.02, -2.55, -2.1]).map((result, i) =>
      i === 3
        ? { ...result, history: { ...result.history, evals: result.history.evals.slice(0, 1) } }
        : result,
    );
    const running = verdictOf(
      inApp(unfinished, 'g1', (i) => (i === 3 ? 'running' : 'completed')),
      'g1',
    );
    expect(running.status).toBe('not yet decided');
    expect(running.finished).toBe(3);
    expect(running.total).toBe(4);
    const queued = verdictOf(
      inApp(unfinished, 'g1', (i) => (i === 3 ? 'queued' : 'completed')),
      'g1',
    );
    expect(queued.status).toBe('not yet decided');
    const failed = verdictOf(
      inApp(unfinished, 'g1', (i) => (i === 3 ? 'failed' : 'completed')),
      'g1',
    );
    expect(failed.status).toBe('inconclusive');
    const interrupted = verdictOf(
      inApp(unfinished, 'g1', (i) => (i === 3 ? 'interrupted' : 'completed')),
      'g1',
    );
    expect(interrupted.status).toBe('inconclusive');
  });

  it('judges only the runs of one launch, and finds the newest launch of an experiment', () => {
    const older = inApp(results([-2.1, -2.5, -3.0, -3.4]), 'old', undefined, 1000);
    const newer = inApp(results([-3.41, -3.02, -2.55, -2.1]), 'new', undefined, 5000);
    const app = {
      runs: { ...older.runs, ...newer.runs },
      order: [...older.order, ...newer.order],
      histories: { ...older.histories, ...newer.histories },
    };
    expect(groupRuns(app.runs, app.order, 'old')).toHaveLength(4);
    expect(verdictOf(app, 'old').status).toBe('does not hold');
    expect(verdictOf(app, 'new').status).toBe('holds');
    expect(latestGroup(app.runs, app.order, 'temperature')).toEqual({ group: 'new', scale: 'quick' });
    expect(latestGroup(app.runs, app.order, 'supcon')).toBeNull();
  });

  it('maps statuses and histories: totals unknown before the start, PCA and timings left out', () => {
    expect(['preparing', 'queued'].map((s) => resultStatus(s as RunStatus))).toEqual(['pending', 'pending']);
    expect(['running', 'paused'].map((s) => resultStatus(s as RunStatus))).toEqual(['running', 'running']);
    expect(['error', 'failed'].map((s) => resultStatus(s as RunStatus))).toEqual(['error', 'error']);
    const app = inApp(results([-3.41, -3.02, -2.55, -2.1]), 'g1', () => 'queued');
    const run = { ...groupRuns(app.runs, app.order, 'g1')[0], totalSteps: 0, error: 'lost' };
    const result = runResult(run, app.histories[run.id]);
    expect(result.totalSteps).toBeNull();
    expect(result.error).toBe('lost');
    expect(result.key).toBe('tau=0.07,seed=0');
    expect(result.point).toEqual({ tau: '0.07' });
    expect(Object.keys(result.history.evals[0]).sort()).toEqual(['h', 'step', 'z']);
    expect(result.history.steps[0]).toEqual({ step: app.histories[run.id].steps[0].step, loss: -0.5 });
    expect(runResult(run, undefined).history).toEqual({ steps: [], evals: [] });
  });
});

describe('the bundle and the expected time', () => {
  it('exports the CLI format; the smoke scale is the quick grid marked as a mechanics check', () => {
    const bundle = appBundle(temperature, 'smoke', results([-3.41, -3.02, -2.55, -2.1]), {
      backend: 'webgpu',
    });
    expect(bundle.format).toBe(BUNDLE_FORMAT);
    expect(bundle.scale).toBe('quick');
    expect(bundle.smoke).toBe(true);
    expect(bundle.environment).toEqual({ backend: 'webgpu' });
    expect(bundle.verdict.status).toBe('holds');
    expect(bundle.runs).toHaveLength(4);
    expect(appBundle(temperature, 'full', [], {}).smoke).toBe(false);
  });

  it('plans the smoke scale as 2 steps per run on synthetic data, the same grid as quick', () => {
    const smoke = plannedRuns(temperature, 'smoke');
    const quick = plannedRuns(temperature, 'quick');
    expect(smoke.map((run) => run.key)).toEqual(quick.map((run) => run.key));
    expect(
      smoke.every((run) => run.config.dataset.id === 'synthetic' && run.config.stepsPerEpoch === 2),
    ).toBe(true);
    expect(smoke[0].config.name).toBe(`temperature/${smoke[0].key}`);
  });

  it('turns the grid into time from a measured images/s (median), or the backend default steps/s', () => {
    const planned = plannedRuns(temperature, 'smoke');
    const batch = planned[0].config.batchSize;
    const steps = planned.length * 2;
    const measured = expectedTime(
      planned,
      [{ imagesPerSecond: 10 }, { imagesPerSecond: 0 }, { imagesPerSecond: 20 }, { imagesPerSecond: 1000 }],
      'wasm',
    );
    expect(measured.steps).toBe(steps);
    expect(measured.seconds).toBeCloseTo((steps * batch) / 20);
    expect(measured.basis).toContain('median of 3 runs');
    const fallback = expectedTime(planned, [], 'wasm');
    expect(fallback.seconds).toBeCloseTo(steps / 1);
    expect(expectedTime(planned, [], 'webgpu').seconds).toBeCloseTo(steps / 4);
  });
});

describe('the Experiments tab', () => {
  const render = () => renderToString(createElement(ExperimentsTab));

  // server rendering reads the store's initial state (an empty playground); the verdict panel on runs is the e2e's
  it('shows a card per experiment with its paper and cost, and no verdict before any experiment ran', () => {
    const html = render();
    for (const id of EXPERIMENT_IDS) expect(html).toContain(`data-testid="experiment-${id}"`);
    expect(html).toContain('No experiment has run here yet');
    expect(html).toContain('arXiv <!-- -->2004.11362');
    expect(html).toContain('ICML 2021; ICLR 2022<!-- -->,');
    expect(html).toMatch(/2<!-- --> run<!-- -->s<!-- -->, <!-- -->624<!-- --> steps: about/);
  });
});
