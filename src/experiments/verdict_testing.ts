// Test support (not shipped code): recorded histories with chosen final metrics, for the verdict rules.
import { experimentRuns, plannedSteps } from './plan';
import type { ExperimentDefinition, MetricSet, RunResult, Scale } from './types';

/** D eigenvalues: `k` equal ones summing to `total`, the rest 0 (spectrum rank k, std ratio sqrt(total)). */
export function flatSpectrum(k: number, D: number, total = 1): number[] {
  return Array.from({ length: D }, (_, i) => (i < k ? total / k : 0));
}

export function metricSet(over: Partial<MetricSet> = {}): MetricSet {
  return {
    alignment: 0.5,
    uniformity: -2,
    tolerance: 0.3,
    spectrum: flatSpectrum(8, 8),
    effectiveRank: 8,
    knnTop1: 0.7,
    ...over,
  };
}

export interface FinalMetrics {
  h?: Partial<MetricSet>;
  z?: Partial<MetricSet>;
}

/**
 * The planned runs of `definition` at `scale`, each completed with an evaluation at step 0 (default metrics) and
 * one at its last step with `final(point, seed)` over the defaults.
 */
export function recorded(
  definition: ExperimentDefinition,
  final: (point: Record<string, string>, seed: number) => FinalMetrics,
  scale: Scale = 'quick',
): RunResult[] {
  return experimentRuns(definition, scale).map((run) => {
    const totalSteps = plannedSteps(run.config);
    const metrics = final(run.point, run.seed);
    return {
      ...run,
      status: 'completed',
      totalSteps,
      history: {
        steps: [{ step: totalSteps, loss: -0.5 }],
        evals: [
          { step: 0, h: metricSet(), z: metricSet() },
          { step: totalSteps, h: metricSet(metrics.h), z: metricSet(metrics.z) },
        ],
      },
    };
  });
}

/** The runs with the one at `key` failed (error event, no final evaluation). */
export function withFailure(runs: RunResult[], key: string, message: string): RunResult[] {
  return runs.map((run) =>
    run.key === key
      ? {
          ...run,
          status: 'error',
          error: message,
          history: { steps: [], evals: run.history.evals.slice(0, 1) },
        }
      : run,
  );
}
