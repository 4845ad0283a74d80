// The export of an experiment: its definition, the configs, the recorded histories and the verdict, as JSON. No tfjs.
import { estimateCost, gridOf, type CostEstimate } from './plan';
import type {
  ExperimentDefinition,
  GridAxis,
  Paper,
  PlotSpec,
  RunResult,
  Scale,
  Verdict,
  VerdictRule,
} from './types';

export const BUNDLE_FORMAT = 'contrastive-playground/experiment';
export const BUNDLE_VERSION = 1;

export interface ExperimentBundle {
  format: typeof BUNDLE_FORMAT;
  version: typeof BUNDLE_VERSION;
  experiment: {
    id: string;
    title: string;
    paper: Paper;
    claim: string;
    paperStatement: string;
    rule: Omit<VerdictRule, 'decide'>;
    plots: PlotSpec[];
  };
  scale: Scale;
  scaleDescription: string;
  /** The grid the runs come from (at this scale). */
  grid: GridAxis[];
  /** true when the runs were the mechanics check (`--smoke`): the verdict then says nothing about the claim. */
  smoke: boolean;
  /** Where it ran: backend, threads, hardware, as the caller describes it. */
  environment: Record<string, string>;
  cost: CostEstimate;
  runs: RunResult[];
  verdict: Verdict;
}

/**
 * The verdict of `definition` on `runs`; a rule that throws (it never should) gives 'inconclusive' with the
 * error, so an export or a report is never lost to it.
 */
export function decideVerdict(definition: ExperimentDefinition, runs: RunResult[]): Verdict {
  try {
    return definition.verdict.decide(runs);
  } catch (err) {
    return {
      status: 'inconclusive',
      observed: `Observed: the verdict rule failed (${(err as Error).message}): inconclusive`,
      table: { columns: [], rows: [] },
      notes: [(err as Error).message],
    };
  }
}

/**
 * Builds the JSON export of an experiment from its runs (the app's histories fit: extra fields of steps and evals,
 * such as PCA points, are dropped so the bundle stays small). The verdict is computed here.
 */
export function experimentBundle(args: {
  experiment: ExperimentDefinition;
  scale: Scale;
  runs: RunResult[];
  smoke?: boolean;
  environment?: Record<string, string>;
}): ExperimentBundle {
  const { experiment, scale } = args;
  const runs: RunResult[] = args.runs.map((run) => ({
    ...run,
    history: {
      steps: run.history.steps.map(({ step, loss }) => ({ step, loss })),
      evals: run.history.evals.map(({ step, h, z }) => ({ step, h, z })),
    },
  }));
  const { decide: _decide, ...rule } = experiment.verdict;
  return {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    experiment: {
      id: experiment.id,
      title: experiment.title,
      paper: experiment.paper,
      claim: experiment.claim,
      paperStatement: experiment.paperStatement,
      rule,
      plots: experiment.plots,
    },
    scale,
    scaleDescription: args.smoke
      ? 'mechanics check: the grid on 8x8 synthetic images (4 classes), a 4-8 channel ConvNet, 2 steps per run'
      : experiment.scales[scale].description,
    grid: gridOf(experiment, scale),
    smoke: args.smoke ?? false,
    environment: args.environment ?? {},
    cost: estimateCost(runs),
    runs,
    verdict: decideVerdict(experiment, runs),
  };
}
