// Building blocks of the verdict rules: measured values with their problems, formatting, the sentence. No tfjs.
import { METRIC_NAMES, pointMean } from './history';
import type { MetricKey, Representation, RunResult, Verdict, VerdictStatus, VerdictTable } from './types';

/**
 * Collects the final metrics a rule needs. A value that cannot be read (failed run, no final evaluation, NaN) is
 * NaN and its reason is kept: a rule with any problem returns 'inconclusive'.
 */
export class Measurements {
  readonly problems: string[] = [];
  constructor(private readonly runs: RunResult[]) {}

  /** The seed mean of `metric`(`representation`) at the grid point `match` (axis name -> option label). */
  get(match: Record<string, string>, representation: Representation, metric: MetricKey): number {
    const result = pointMean(this.runs, match, representation, metric);
    if ('problem' in result) {
      if (!this.problems.includes(result.problem)) this.problems.push(result.problem);
      return Number.NaN;
    }
    return result.value;
  }
}

/** A metric value as the reports print it: kNN in percent, the rest with the digits its scale needs. */
export function formatMetric(metric: MetricKey, value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  switch (metric) {
    case 'knnTop1':
      return `${(value * 100).toFixed(1)}%`;
    case 'alignment':
    case 'uniformity':
      return value.toFixed(2);
    case 'tolerance':
    case 'stdRatio':
      return value.toFixed(3);
    case 'effectiveRank':
    case 'spectrumRank':
      return value.toFixed(1);
  }
}

/** A kNN difference in percentage points, signed. */
export function formatPoints(difference: number): string {
  if (!Number.isFinite(difference)) return 'n/a';
  const points = difference * 100;
  return `${points >= 0 ? '+' : ''}${points.toFixed(1)} pp`;
}

/** "name(z)" as the reports write a metric of a representation. */
export function metricLabel(metric: MetricKey, representation: Representation): string {
  return `${METRIC_NAMES[metric]}(${representation})`;
}

/** `values` joined as "a / b / c" with `metric`'s formatting. */
export function series(metric: MetricKey, values: number[]): string {
  return values.map((value) => formatMetric(metric, value)).join(' / ');
}

/**
 * Whether `values` rise with their index within `tolerance`: no step down by more than `tolerance`, and the last
 * above the first by more than `tolerance` (a flat series does not count as rising).
 */
export function risesWithin(values: number[], tolerance: number): boolean {
  if (values.some((value) => !Number.isFinite(value)) || values.length < 2) return false;
  for (let i = 1; i < values.length; i++) if (values[i] < values[i - 1] - tolerance) return false;
  return values[values.length - 1] - values[0] > tolerance;
}

/**
 * The verdict: 'inconclusive' whenever a measurement had a problem, else `status`. The sentence reads
 * "Observed: <observed>: <status>".
 */
export function makeVerdict(
  measured: Measurements,
  status: Exclude<VerdictStatus, 'inconclusive'>,
  observed: string,
  table: VerdictTable,
  notes: string[] = [],
): Verdict {
  const final: VerdictStatus = measured.problems.length > 0 ? 'inconclusive' : status;
  return {
    status: final,
    observed: `Observed: ${observed}: ${final}`,
    table,
    notes: measured.problems.length > 0 ? [...measured.problems, ...notes] : notes,
  };
}
