// From an experiment definition to the RunConfigs of its grid, and what they cost. No tfjs.
import { parseRunConfig, viewCount, type RunConfig, type RunConfigInput } from '../engine/config';
import type { ExperimentDefinition, GridAxis, PlannedRun, Scale } from './types';

/** Training-split sizes of the file datasets, for cost estimates before a dataset is loaded. */
export const TRAIN_SPLIT_SIZES: Record<string, number> = {
  'fashion-mnist': 60_000,
  mnist: 60_000,
  cifar10: 50_000,
};

/** Test-split sizes of the file datasets. */
export const TEST_SPLIT_SIZES: Record<string, number> = {
  'fashion-mnist': 10_000,
  mnist: 10_000,
  cifar10: 10_000,
};

/** Sets a dotted path (`loss.params.tau`) in a plain object, creating the objects on the way. */
export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]] = structuredClone(value);
}

/** The grid of `definition` at `scale`. */
export function gridOf(definition: ExperimentDefinition, scale: Scale): GridAxis[] {
  return definition.scales[scale].grid ?? definition.grid;
}

/** Every combination of the axes' options, in order (the last axis varies fastest). */
function product(axes: GridAxis[]): { point: Record<string, string>; set: [string, unknown][] }[] {
  let points: { point: Record<string, string>; set: [string, unknown][] }[] = [{ point: {}, set: [] }];
  for (const axis of axes) {
    points = points.flatMap(({ point, set }) =>
      axis.options.map((option) => ({
        point: { ...point, [axis.name]: option.label },
        set: [...set, ...Object.entries(option.set)],
      })),
    );
  }
  return points;
}

/** A run key safe in file names: `tau=0.07,seed=0`; characters other than [A-Za-z0-9._=,+-] become '_'. */
export function runKey(point: Record<string, string>, seed: number): string {
  const parts = [...Object.entries(point).map(([name, label]) => `${name}=${label}`), `seed=${seed}`];
  return parts.join(',').replace(/[^A-Za-z0-9._=,+-]/g, '_');
}

/**
 * Mechanics-check override (`--smoke`, the CI test): the same grid on a tiny synthetic set (8x8 RGB, 4 classes), a
 * 2-stage ConvNet of 4 and 8 channels, a projector of the same depth but 16 wide, 2 steps and 3 evaluations per
 * run. Everything the grid varies (loss, views, batch size, projector on/off, method switches) is kept, so every
 * run of the grid is built and trained; the verdict computed on it says nothing about the claim.
 */
export function smokeConfig(config: RunConfigInput): RunConfigInput {
  const batchSize = config.batchSize ?? 256;
  const projector = config.projector ?? {};
  return {
    ...config,
    dataset: {
      id: 'synthetic',
      trainLimit: 0,
      synthetic: { classes: 4, trainCount: Math.max(64, batchSize), testCount: 32, size: 8, channels: 3 },
    },
    encoder: { type: 'convnet', channels: [4, 8] },
    projector: { ...projector, hidden: 16, out: 8 },
    epochs: 1,
    stepsPerEpoch: 2,
    schedule: { type: 'constant' },
    eval: { every: 1, size: 32, bankSize: 64, knnK: 10, knnTemperature: 0.1, linearProbe: false, pca: false },
    checkpointEvery: 0,
  };
}

export interface PlanOptions {
  /** The mechanics check: smokeConfig over every run, one seed. */
  smoke?: boolean;
  /** Changes the scale's base config before the grid is applied (the CLI's --set). */
  base?: (base: RunConfigInput) => RunConfigInput;
}

/**
 * The runs of `definition` at `scale`: every grid point once per seed, each a complete validated RunConfig named
 * `<experiment>/<key>`. Throws naming the run when a grid point gives an invalid config.
 */
export function experimentRuns(
  definition: ExperimentDefinition,
  scale: Scale,
  options: PlanOptions = {},
): PlannedRun[] {
  const spec = definition.scales[scale];
  const base = options.base ? options.base(structuredClone(spec.base)) : spec.base;
  const runs: PlannedRun[] = [];
  for (const { point, set } of product(gridOf(definition, scale))) {
    for (const seed of options.smoke ? spec.seeds.slice(0, 1) : spec.seeds) {
      const raw = structuredClone(base) as Record<string, unknown>;
      for (const [path, value] of set) setPath(raw, path, value);
      const key = runKey(point, seed);
      raw.seed = seed;
      raw.name = `${definition.id}/${key}`;
      let config: RunConfig;
      try {
        config = parseRunConfig(options.smoke ? smokeConfig(raw as RunConfigInput) : raw);
      } catch (err) {
        throw new Error(`experiment '${definition.id}' (${scale}), run ${key}: ${(err as Error).message}`, {
          cause: err,
        });
      }
      runs.push({ key, point, seed, config });
    }
  }
  return runs;
}

/** What a scale of an experiment costs, in images, so a device's measured speed turns it into time. */
export interface CostEstimate {
  runs: number;
  /** Optimizer steps over all runs. */
  steps: number;
  /** Training instances (batch images) over all runs: divide by the app's images/s for the training time. */
  trainImages: number;
  /** Images through the encoder in training: instances times views (a V = 8 run costs 4x a V = 2 one). */
  viewImages: number;
  /** Images embedded by the evaluations (3 x eval subset + the kNN bank, per evaluation). */
  evalImages: number;
}

/** Steps a RunConfig trains, as the Trainer counts them (drop-last batches, stepsPerEpoch cap, ceil of epochs). */
export function plannedSteps(config: RunConfig): number {
  const available =
    config.dataset.id === 'synthetic'
      ? config.dataset.synthetic.trainCount
      : (TRAIN_SPLIT_SIZES[config.dataset.id] ?? 0);
  const trainCount =
    config.dataset.trainLimit > 0 ? Math.min(config.dataset.trainLimit, available) : available;
  const perEpoch =
    config.stepsPerEpoch > 0 ? config.stepsPerEpoch : Math.max(1, Math.floor(trainCount / config.batchSize));
  return Math.max(1, Math.ceil(config.epochs * perEpoch));
}

/** Evaluations a run makes: before the first step (when eval.every > 0), every eval.every steps, after the last. */
export function plannedEvals(config: RunConfig): number {
  const steps = plannedSteps(config);
  const every = config.eval.every;
  if (every === 0) return 1;
  return 1 + Math.floor(steps / every) + (steps % every === 0 ? 0 : 1);
}

export function estimateCost(runs: PlannedRun[]): CostEstimate {
  let steps = 0;
  let trainImages = 0;
  let viewImages = 0;
  let evalImages = 0;
  for (const { config } of runs) {
    const runSteps = plannedSteps(config);
    steps += runSteps;
    trainImages += runSteps * config.batchSize;
    viewImages += runSteps * config.batchSize * viewCount(config);
    const testCount =
      config.dataset.id === 'synthetic'
        ? config.dataset.synthetic.testCount
        : (TEST_SPLIT_SIZES[config.dataset.id] ?? config.eval.size);
    const trainCount =
      config.dataset.id === 'synthetic'
        ? config.dataset.synthetic.trainCount
        : (TRAIN_SPLIT_SIZES[config.dataset.id] ?? config.eval.bankSize);
    const limit =
      config.dataset.trainLimit > 0 ? Math.min(config.dataset.trainLimit, trainCount) : trainCount;
    const perEval = 3 * Math.min(config.eval.size, testCount) + Math.min(config.eval.bankSize, limit);
    evalImages += plannedEvals(config) * perEval;
  }
  return { runs: runs.length, steps, trainImages, viewImages, evalImages };
}
