import type { EvalEvent, MetricSet } from '../engine/events';
import type { MetricHistory } from './types';

/** Scalar metrics of the informative representation that go into the CSV (as for h and z). */
const INFORMATIVE_METRICS = [
  'alignment',
  'uniformity',
  'tolerance',
  'effectiveRank',
  'knnTop1',
] as const satisfies readonly (keyof MetricSet)[];

/**
 * The CSV columns of the objective-specific diagnostics a history has, and their cells for one eval (or none):
 * informative_* (cmim's informative embeddings) and dense_* (pixpro's dense pixel consistency). A history without
 * them gets no extra columns, so the CSV of every other run is unchanged.
 */
export function objectiveColumns(history: MetricHistory): {
  header: string[];
  cells: (e: EvalEvent | undefined) => (number | null | undefined)[];
} {
  const informative = history.evals.some((e) => e.informative);
  const dense = history.evals.some((e) => e.dense);
  return {
    header: [
      ...(informative ? INFORMATIVE_METRICS.map((m) => `informative_${m}`) : []),
      ...(dense ? ['dense_matched', 'dense_unmatched', 'dense_pairs_per_image'] : []),
    ],
    cells: (e) => [
      ...(informative ? INFORMATIVE_METRICS.map((m) => e?.informative?.[m]) : []),
      ...(dense ? [e?.dense?.matched, e?.dense?.unmatched, e?.dense?.pairsPerImage] : []),
    ],
  };
}
