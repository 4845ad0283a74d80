import type { RunConfig } from '../engine/config';
import type { MetricSet } from '../engine/events';
import { REGRESSION_COLUMNS, regressionCells } from './regression_columns';
import type { MetricHistory, RunRecord } from './types';

/** Scalar metrics of a MetricSet that go into the CSV (the spectrum is a list and goes into the JSON only). */
const SCALAR_METRICS = [
  'alignment',
  'uniformity',
  'tolerance',
  'effectiveRank',
  'knnTop1',
] as const satisfies readonly (keyof MetricSet)[];

function csvValue(value: number | null | undefined): string {
  return value === null || value === undefined || Number.isNaN(value) ? '' : String(value);
}

/**
 * The metric history as one CSV table, one row per step: step, epoch, loss, lr, images/s, then the eval
 * metrics for h and z on the rows where an eval happened (empty cells elsewhere), then the training stage and the
 * regression metrics of h (empty for runs without stages or regression targets). An eval at step 0 (before
 * training) gets its own row.
 */
export function historyCsv(history: MetricHistory): string {
  const header = [
    'step',
    'epoch',
    'loss',
    'lr',
    'images_per_second',
    ...(['h', 'z'] as const).flatMap((space) => SCALAR_METRICS.map((m) => `${space}_${m}`)),
    'linear_probe_top1',
    ...REGRESSION_COLUMNS,
  ];
  const evalsByStep = new Map(history.evals.map((e) => [e.step, e]));
  const stepsByStep = new Map(history.steps.map((s) => [s.step, s]));
  const allSteps = [...new Set([...stepsByStep.keys(), ...evalsByStep.keys()])].sort((a, b) => a - b);
  const rows = allSteps.map((step) => {
    const point = stepsByStep.get(step);
    const evalEvent = evalsByStep.get(step);
    const metricCells = (['h', 'z'] as const).flatMap((space) =>
      SCALAR_METRICS.map((m) => csvValue(evalEvent?.[space][m])),
    );
    return [
      String(step),
      csvValue(point?.epoch ?? evalEvent?.epoch),
      csvValue(point?.loss),
      csvValue(point?.lr),
      csvValue(point?.imagesPerSecond),
      ...metricCells,
      csvValue(evalEvent?.linearProbeTop1),
      ...regressionCells(point, evalEvent),
    ].join(',');
  });
  return [header.join(','), ...rows].join('\n') + '\n';
}

/** The whole run as JSON: config, summary and the full history (every step, every eval with its spectrum). */
export function historyJson(run: RunRecord, history: MetricHistory): string {
  return JSON.stringify(
    {
      run: {
        id: run.id,
        status: run.status,
        step: run.step,
        totalSteps: run.totalSteps,
        backend: run.backend,
      },
      config: run.config,
      history,
    },
    null,
    2,
  );
}

export function configJson(config: RunConfig): string {
  return JSON.stringify(config, null, 2);
}

/** A file name fragment from a run's name or id: letters, digits, dashes. */
export function fileStem(run: Pick<RunRecord, 'id' | 'config'>): string {
  const base = (run.config.name || run.id)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return base || 'run';
}
