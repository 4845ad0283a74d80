// Reading recorded histories: final metrics, derived quantities, seed means. Plain numbers only (no tfjs).
import type { EvalRecord, MetricKey, Representation, RunResult } from './types';

/** Human names of the metrics, for tables and plot axes. */
export const METRIC_NAMES: Record<MetricKey, string> = {
  alignment: 'alignment',
  uniformity: 'uniformity',
  tolerance: 'tolerance',
  effectiveRank: 'effective rank',
  knnTop1: 'kNN top-1',
  stdRatio: 'std x sqrt(D) of norm',
  spectrumRank: 'spectrum rank',
};

/**
 * sqrt(D) times the root mean square over the D dimensions of the standard deviation of norm(z): Chen & He's
 * collapse monitor made scale-free. The spectrum is the covariance eigenvalues of norm(z), so its sum is the total
 * variance and sum / D the mean per-dimension variance; evenly spread unit vectors give ~1, a collapsed output 0.
 */
export function stdRatio(spectrum: readonly number[]): number {
  if (spectrum.length === 0) return Number.NaN;
  const total = spectrum.reduce((sum, value) => sum + Math.max(value, 0), 0);
  return Math.sqrt(total);
}

/**
 * Effective rank of the spectrum: exp(entropy of sigma_k / sum sigma), sigma_k = sqrt(eigenvalue_k) the singular
 * values of the centred norm(z) (RankMe's formula on the centred, normalised embedding, so that a common mean
 * direction, e.g. of non-negative ReLU features, does not count as a used dimension). 1..D; 0 when all are 0.
 */
export function spectrumRank(spectrum: readonly number[]): number {
  const sigma = spectrum.map((value) => Math.sqrt(Math.max(value, 0)));
  const total = sigma.reduce((sum, value) => sum + value, 0);
  if (!(total > 0)) return 0;
  let entropy = 0;
  for (const value of sigma) {
    const p = value / total + 1e-7;
    entropy -= p * Math.log(p);
  }
  return Math.exp(entropy);
}

/** The value of `metric` for h or z in one evaluation. */
export function metricValue(record: EvalRecord, representation: Representation, metric: MetricKey): number {
  const set = record[representation];
  switch (metric) {
    case 'stdRatio':
      return stdRatio(set.spectrum);
    case 'spectrumRank':
      return spectrumRank(set.spectrum);
    default:
      return set[metric];
  }
}

/**
 * The last evaluation of a run that trained to its end, or the reason there is none: the verdicts judge the
 * trained representation, so a failed, stopped or unfinished run, or one never evaluated after training, has none.
 */
export function finalEval(run: RunResult): { record: EvalRecord } | { problem: string } {
  if (run.status === 'error') return { problem: `run ${run.key} failed: ${run.error ?? 'unknown error'}` };
  if (run.status !== 'completed') return { problem: `run ${run.key} is ${run.status}, not completed` };
  const last = run.history.evals.at(-1);
  if (!last || last.step === 0) return { problem: `run ${run.key} has no evaluation after training` };
  if (run.totalSteps !== null && last.step < run.totalSteps) {
    return { problem: `run ${run.key} was last evaluated at step ${last.step} of ${run.totalSteps}` };
  }
  return { record: last };
}

/** Groups runs by grid point (all seeds of a point together), keyed by the point's labels in axis order. */
export function pointKey(point: Record<string, string>): string {
  return Object.entries(point)
    .map(([name, label]) => `${name}=${label}`)
    .join(',');
}

/**
 * The final value of a metric at one grid point, averaged over its seeds; `problem` names the first run that
 * has no final evaluation (the verdict is then inconclusive).
 */
export function pointMean(
  runs: RunResult[],
  match: Record<string, string>,
  representation: Representation,
  metric: MetricKey,
): { value: number; seeds: number } | { problem: string } {
  const members = runs.filter((run) =>
    Object.entries(match).every(([name, label]) => run.point[name] === label),
  );
  const where = pointKey(match);
  if (members.length === 0) return { problem: `no run at ${where}` };
  const values: number[] = [];
  for (const run of members) {
    const final = finalEval(run);
    if ('problem' in final) return { problem: final.problem };
    const value = metricValue(final.record, representation, metric);
    if (!Number.isFinite(value))
      return { problem: `run ${run.key}: ${metric}(${representation}) is ${value}` };
    values.push(value);
  }
  return { value: values.reduce((a, b) => a + b, 0) / values.length, seeds: values.length };
}
