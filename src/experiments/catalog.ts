/**
 * The experiments catalogue: every paper claim the playground can re-run, as plain data (no tfjs), for the CLI and
 * the app's Experiments tab. A card per experiment: `title`, `claim`, `paper`, `scales[scale].description`,
 * `experimentRuns(definition, scale)` (the grid's validated RunConfigs), `plots` (what to show first),
 * `estimateCost(runs)` (images to process, which a device's measured images/s turns into time). The verdict is a
 * plain function of recorded histories (`decideVerdict`), and `experimentBundle` builds the JSON export (configs,
 * histories, verdict); `reportMarkdown` / `reportHtml` render it. The runs themselves go through the engine
 * (src/experiments/runner.ts in Node; the worker in the app).
 */
import { alignUniform } from './align_uniform';
import { dclBatch } from './dcl_batch';
import { dimensionalCollapse } from './dimensional_collapse';
import { multiView } from './multi_view';
import { redundancyReduction } from './redundancy_reduction';
import { simsiamCollapse } from './simsiam_collapse';
import { supcon } from './supcon';
import { temperature } from './temperature';
import type { ExperimentDefinition } from './types';

export const EXPERIMENTS: readonly ExperimentDefinition[] = [
  temperature,
  alignUniform,
  dclBatch,
  dimensionalCollapse,
  simsiamCollapse,
  multiView,
  supcon,
  redundancyReduction,
];

export const EXPERIMENT_IDS: readonly string[] = EXPERIMENTS.map((experiment) => experiment.id);

/** The experiment named `id`; throws listing the valid names for an unknown one. */
export function experimentById(id: string): ExperimentDefinition {
  const found = EXPERIMENTS.find((experiment) => experiment.id === id);
  if (!found)
    throw new Error(`unknown experiment '${id}'; the experiments are: ${EXPERIMENT_IDS.join(', ')}`);
  return found;
}

export {
  experimentBundle,
  decideVerdict,
  BUNDLE_FORMAT,
  BUNDLE_VERSION,
  type ExperimentBundle,
} from './bundle';
export {
  experimentRuns,
  estimateCost,
  gridOf,
  plannedSteps,
  plannedEvals,
  smokeConfig,
  type CostEstimate,
  type PlanOptions,
} from './plan';
export { reportMarkdown, reportHtml, plotSvg, plotTitle, venueYear } from './report';
export { finalEval, metricValue, spectrumRank, stdRatio, METRIC_NAMES } from './history';
export { SCALES } from './types';
export type {
  AxisOption,
  EvalRecord,
  ExperimentDefinition,
  ExperimentHistory,
  GridAxis,
  MetricKey,
  Paper,
  PlannedRun,
  PlotSpec,
  Representation,
  RunResult,
  RunStatus,
  Scale,
  ScaleSpec,
  Verdict,
  VerdictRule,
  VerdictStatus,
  VerdictTable,
} from './types';
