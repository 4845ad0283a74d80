// Experiments as data: the types every experiment file, the runner, the verdicts and the reports share (no tfjs).
import type { RunConfig, RunConfigInput } from '../engine/config';
import type { MetricSet } from '../engine/events';

export type { MetricSet };

/** The two sizes of every experiment. */
export const SCALES = ['quick', 'full'] as const;
export type Scale = (typeof SCALES)[number];

export interface Paper {
  authors: string;
  title: string;
  year: number;
  venue: string;
  arxiv: string;
}

/** One value of a grid axis: a label for tables and legends, and the config fields it sets (dotted paths). */
export interface AxisOption {
  label: string;
  set: Record<string, unknown>;
  /** The value on a numeric axis (tau, batch size, views): the x of the final-value plots. */
  value?: number;
}

/** One dimension of an experiment's grid; the grid is the product of its axes. */
export interface GridAxis {
  /** Short key, used in run keys and legends (`tau`, `loss`, `batch`). */
  name: string;
  /** Words for tables and plot axes (`temperature tau`). */
  label: string;
  options: AxisOption[];
}

export interface ScaleSpec {
  /** One line: the data, encoder and length of this scale. */
  description: string;
  /** The RunConfig every run of the grid starts from (missing fields take the RunConfig defaults). */
  base: RunConfigInput;
  /** The grid at this scale; the experiment's `grid` when absent. */
  grid?: GridAxis[];
  /** Seeds: every grid point runs once per seed, and the verdict averages the seeds' final metrics. */
  seeds: number[];
}

/** A quantity recorded at each evaluation, for h or z. */
export type MetricKey =
  | 'alignment'
  | 'uniformity'
  | 'tolerance'
  | 'effectiveRank'
  | 'knnTop1'
  /** Root mean square over dimensions of the std of norm(z), times sqrt(D): 1 = spread out, 0 = collapsed. */
  | 'stdRatio'
  /** Effective rank of the spectrum (RankMe's entropy over the singular values of the centred norm(z)). */
  | 'spectrumRank';

export type Representation = 'h' | 'z';

/** What the report (and the app) should plot first to show the claim. */
export type PlotSpec =
  | { kind: 'loss'; title?: string }
  /** A metric over training steps, one line per run. */
  | { kind: 'metric'; metric: MetricKey; representation: Representation; title?: string }
  /** Wang & Isola's plane: (-uniformity, -alignment) per evaluation, one trajectory per run. */
  | { kind: 'plane'; representation: Representation; title?: string }
  /** The final eigen-spectrum (log10, descending) of each run. */
  | { kind: 'spectrum'; representation: Representation; title?: string }
  /** The final value of a metric against a numeric grid axis, one line per value of the other axes. */
  | { kind: 'final'; metric: MetricKey; representation: Representation; axis: string; title?: string };

/** One evaluation as the verdicts read it (a subset of the engine's EvalEvent, so the app's histories fit). */
export interface EvalRecord {
  step: number;
  h: MetricSet;
  z: MetricSet;
}

export interface ExperimentHistory {
  steps: { step: number; loss: number }[];
  evals: EvalRecord[];
}

export type RunStatus = 'pending' | 'running' | 'completed' | 'stopped' | 'error';

/** One planned run of an experiment: a grid point and a seed. */
export interface PlannedRun {
  /** Unique within the experiment and safe as a folder name, e.g. `loss=dcl,batch=32,seed=0`. */
  key: string;
  /** Axis name -> option label. */
  point: Record<string, string>;
  seed: number;
  config: RunConfig;
}

/** A run with what it recorded: the input of a verdict. */
export interface RunResult extends PlannedRun {
  status: RunStatus;
  /** Steps the run was to train (null when it never started). */
  totalSteps: number | null;
  error?: string;
  history: ExperimentHistory;
  /** Wall-clock seconds the run took (training and evaluations), when measured. */
  wallSeconds?: number;
}

export type VerdictStatus = 'holds' | 'does not hold' | 'inconclusive';

/** The metrics that decide a verdict, as a small table of formatted cells. */
export interface VerdictTable {
  columns: string[];
  rows: string[][];
}

export interface Verdict {
  status: VerdictStatus;
  /** One sentence: "Observed: ... : holds". */
  observed: string;
  table: VerdictTable;
  /** Why it is inconclusive, or further detail per part of the rule. */
  notes: string[];
}

export interface VerdictRule {
  /** The rule in words: what is compared with what. */
  description: string;
  /** The tolerance and what it guards against. */
  tolerance: string;
  /** What "does not hold" means at the quick scale. */
  notReproduced: string;
  /** Plain function of the recorded histories (no tfjs: the app runs it in the page). */
  decide(runs: RunResult[]): Verdict;
}

export interface ExperimentDefinition {
  /** CLI name, kebab-case: `npm run experiment -- temperature`. */
  id: string;
  title: string;
  paper: Paper;
  /** The claim in one sentence. */
  claim: string;
  /** What the paper reports, in its terms, that the rule encodes. */
  paperStatement: string;
  grid: GridAxis[];
  scales: Record<Scale, ScaleSpec>;
  plots: PlotSpec[];
  verdict: VerdictRule;
}

export type { RunConfig, RunConfigInput };
