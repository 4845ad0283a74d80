import type { RunConfig } from '../engine/config';
import type { MetricSet, ProtocolResult } from '../engine/events';
import { objectiveColumns } from './objective_columns';
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
 * The scalar numbers of a result as named columns (the history CSV): few-shot accuracies per K with their
 * intervals, the fine-tuning stage's linear probe and last test accuracy per variant, and the contrastive-analysis
 * scores per space. Column names are stable for a given protocol config.
 */
export function protocolScalars(result: ProtocolResult): [string, number | null][] {
  switch (result.kind) {
    case 'few-shot':
      return result.scores.flatMap((s) => {
        const name = `fewshot_${result.ways}way_${s.shots}shot`;
        return [
          [name, s.accuracy],
          [`${name}_ci95`, s.ci95],
          [`${name}_opta`, s.optaAccuracy],
          [`${name}_opta_ci95`, s.optaCi95],
        ] as [string, number | null][];
      });
    case 'fine-tune':
      return [
        ['finetune_linear_probe', result.linearProbe],
        ...result.variants.map(
          (v) =>
            [
              `finetune_${v.variant.replace('-', '_')}_test_accuracy`,
              v.points[v.points.length - 1]?.testAccuracy ?? null,
            ] as [string, number | null],
        ),
      ];
    case 'contrastive-analysis': {
      const spaces = [
        ['common', result.common] as const,
        ...(result.salient ? [['salient', result.salient] as const] : []),
      ];
      return spaces.flatMap(([name, s]) => [
        [`${name}_space_pattern_knn`, s.salientKnn] as [string, number],
        [`${name}_space_pattern_probe`, s.salientProbe] as [string, number],
        [`${name}_space_class_knn`, s.classKnn] as [string, number],
        [`${name}_space_class_probe`, s.classProbe] as [string, number],
      ]);
    }
  }
}

function protocolCells(values: Map<string, number | null> | null, columns: string[]): string[] {
  return columns.map((name) => csvValue(values?.get(name)));
}

/**
 * The metric history as one CSV table, one row per step: step, epoch, loss, lr, images/s, then the eval
 * metrics for h and z on the rows where an eval happened (empty cells elsewhere), then the training stage and the
 * regression metrics of h (empty for runs without stages or regression targets), then those of the informative
 * representation and the dense consistency where the run has them. An eval at step 0 (before training) gets its
 * own row. A run with a protocol gets its numbers (protocolScalars) as further columns.
 */
export function historyCsv(history: MetricHistory): string {
  // informative_* and dense_* columns, only for runs that have them
  const extra = objectiveColumns(history);
  const header = [
    'step',
    'epoch',
    'loss',
    'lr',
    'images_per_second',
    ...(['h', 'z'] as const).flatMap((space) => SCALAR_METRICS.map((m) => `${space}_${m}`)),
    'linear_probe_top1',
    ...REGRESSION_COLUMNS,
    ...extra.header,
  ];
  // the protocol's numbers (few-shot, fine-tuning, contrastive analysis) as extra columns, when the run has one
  const protocolColumns = [
    ...new Set(
      history.evals.flatMap((e) => (e.protocol ? protocolScalars(e.protocol).map(([name]) => name) : [])),
    ),
  ];
  header.push(...protocolColumns);
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
      ...extra.cells(evalEvent).map(csvValue),
      ...protocolCells(
        evalEvent?.protocol ? new Map(protocolScalars(evalEvent.protocol)) : null,
        protocolColumns,
      ),
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
