import { z } from 'zod';

import { LOSS_IDS, lossInfo, nearestName, resolveLossParams } from '../losses/catalog';
import { DATASET_IDS, DATASET_TARGETS, type DatasetId } from './data/types';
import { ENCODER_PRESETS } from '../nn/presets';
import { protocolProblems, protocolSchema } from './protocols/config';

export { PROTOCOL_TYPES, protocolSchema, type ProtocolType } from './protocols/config';

/**
 * RunConfig: one typed, validated object that fully describes a run. The zod schema is the type, the
 * validator and the defaults; `parseRunConfig` turns anything (a JSON file, a URL, the UI's state) into a
 * complete config or throws an error that lists every bad field with its path and the fix.
 */

const range = (min: number, max: number) => z.number().min(min).max(max);
const positiveInt = (max: number) => z.number().int().min(1).max(max);
const pair = (min: number, max: number) =>
  z
    .tuple([range(min, max), range(min, max)])
    .refine(([lo, hi]) => lo <= hi, { message: 'the first value must be <= the second' });

export { DATASET_IDS, DATASET_TARGETS, ENCODER_PRESETS, type DatasetId };

/** "unknown field 'batchsize' (did you mean 'batchSize'?)", listing the valid names when none is close. */
export function unknownFieldMessage(key: string, valid: readonly string[]): string {
  const nearest = nearestName(key, valid);
  return nearest
    ? `unknown field '${key}' (did you mean '${nearest}'?)`
    : `unknown field '${key}'; the fields here are: ${valid.join(', ')}`;
}

/** Every object of the config is strict: an unknown (misspelt) field is an error naming the nearest valid one. */
function strictObject<T extends z.core.$ZodLooseShape>(shape: T) {
  const valid = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((key) => unknownFieldMessage(key, valid)).join('; also ')
        : undefined,
  });
}

const datasetSchema = strictObject({
  id: z.enum(DATASET_IDS).default('fashion-mnist'),
  /** Use only the first N training images (0 = all): small runs and tests. */
  trainLimit: z.number().int().min(0).max(10_000_000).default(0),
  /**
   * Input standardisation before the encoder: 'channel' = (x - mean_c) / std_c with the per-channel mean and
   * std of the first 10,000 training images (x in [0, 1]); 'none' = the [0, 1] pixels as they are.
   */
  standardize: z.enum(['channel', 'none']).default('channel'),
  /** Synthetic dataset parameters (id = 'synthetic'). */
  synthetic: strictObject({
    classes: z.number().int().min(2).max(100).default(10),
    trainCount: positiveInt(1_000_000).default(2000),
    testCount: positiveInt(1_000_000).default(500),
    size: z.number().int().min(4).max(256).default(16),
    channels: z.union([z.literal(1), z.literal(3)]).default(3),
    noise: range(0, 1).default(0.06),
  }).prefault({}),
  /**
   * A continuous target per image, for regression (supremix trains on it; evaluations add kNN regression MAE and
   * R^2 and a linear-probe R^2): 'class' = none; 'rotation' = every image is rotated by a seeded random angle in
   * [-maxRotation, maxRotation] degrees, which is its target; 'size' = the synthetic shape's radius in percent of
   * the image side (synthetic only).
   */
  target: z.enum(DATASET_TARGETS).default('class'),
  /** dataset.target 'rotation': the largest rotation angle in degrees. */
  maxRotation: range(1, 180).default(45),
}).prefault({});

const encoderSchema = z
  .discriminatedUnion('type', [
    strictObject({ type: z.literal('mlp'), hidden: z.array(positiveInt(8192)).min(1).max(8) }),
    strictObject({ type: z.literal('convnet'), channels: z.array(positiveInt(2048)).min(1).max(8) }),
    strictObject({
      type: z.literal('resnet'),
      widths: z.array(positiveInt(2048)).min(1).max(6),
      blocks: z.array(positiveInt(16)).min(1).max(6),
    }),
  ])
  .default({ type: 'resnet', widths: [32, 64, 128], blocks: [1, 1, 1] });

const projectorSchema = strictObject({
  /** Linear layers of the projector; 0 = no projector (z = h). */
  layers: z.number().int().min(0).max(4).default(2),
  hidden: positiveInt(8192).default(512),
  out: positiveInt(4096).default(128),
  batchNorm: z.boolean().default(true),
}).prefault({});

/**
 * How the networks are built and run, where frameworks differ (README "Learning parity with PyTorch").
 * - init: 'torch' (the default) = PyTorch's defaults for Conv2d and Linear: kernels and biases U(+-1 / sqrt(fan_in))
 *   (kaiming_uniform with a = sqrt(5)); 'tfjs' = conv kernels truncated-normal (2 sigma, sigma = sqrt(2 / fan_out)),
 *   dense kernels He-uniform U(+-sqrt(6 / fan_in)), biases 0. BatchNorm: gamma 1, beta 0 either way. Adam's steps
 *   do not scale with the weights, so the smaller 'torch' weights turn faster: it learns faster at the same lr
 *   (README "Learning parity with PyTorch").
 * - padding: 'same' = TensorFlow's (a 3x3 stride-2 conv on an even size pads only bottom and right, so its
 *   samples sit one pixel off the 1x1 stride-2 shortcut's); 'symmetric' = PyTorch's padding = k // 2 on every side.
 *   Only resnet's stride-2 convs differ; every other conv gives the same output either way.
 * - batchNormViews: 'joint' = same-sized views go through the network as one batch (BatchNorm statistics over
 *   all views together); 'per-view' = one forward pass per view (statistics per view, a script that calls the
 *   encoder on each view).
 */
const nnSchema = strictObject({
  init: z.enum(['tfjs', 'torch']).default('torch'),
  padding: z.enum(['same', 'symmetric']).default('same'),
  batchNormViews: z.enum(['joint', 'per-view']).default('joint'),
}).prefault({});

const lossSchema = strictObject({
  id: z.enum(LOSS_IDS).default('ntxent'),
  params: z.record(z.string(), z.number()).default({}),
}).prefault({});

const augmentSchema = strictObject({
  crop: strictObject({
    scale: pair(0.01, 1).default([0.08, 1]),
    ratio: pair(0.1, 10).default([3 / 4, 4 / 3]),
  })
    .nullable()
    .default({ scale: [0.08, 1], ratio: [3 / 4, 4 / 3] }),
  flip: range(0, 1).default(0.5),
  jitter: strictObject({
    brightness: range(0, 1).default(0.4),
    contrast: range(0, 1).default(0.4),
    saturation: range(0, 1).default(0.4),
    hue: range(0, 0.5).default(0.1),
    p: range(0, 1).default(0.8),
  })
    .nullable()
    .default({ brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1, p: 0.8 }),
  grayscale: range(0, 1).default(0.2),
}).prefault({});

const viewsSchema = strictObject({
  /** Number of full-size views V (>= 2 for every loss). */
  large: z.number().int().min(1).max(16).default(2),
  /** Number of small multi-crop views. */
  small: z.number().int().min(0).max(16).default(0),
  smallSize: z.number().int().min(4).max(256).default(16),
  smallScale: pair(0.01, 1).default([0.05, 0.4]),
}).prefault({});

export const OPTIMIZERS = ['sgd', 'adam', 'adamw', 'lars'] as const;
const optimizerSchema = strictObject({
  type: z.enum(OPTIMIZERS).default('adamw'),
  lr: z.number().gt(0).max(100).default(1e-3),
  momentum: range(0, 0.9999).default(0.9),
  weightDecay: range(0, 1).default(1e-6),
  beta1: range(0, 0.9999).default(0.9),
  beta2: range(0, 0.99999).default(0.999),
  eps: z.number().gt(0).max(1).default(1e-8),
  /** LARS trust coefficient eta. */
  trustCoefficient: z.number().gt(0).max(1).default(1e-3),
}).prefault({});

const scheduleSchema = strictObject({
  type: z.enum(['cosine', 'constant']).default('cosine'),
  warmupEpochs: range(0, 1000).default(0),
  /** Final learning rate as a fraction of lr (cosine). */
  minLrFactor: range(0, 1).default(0),
}).prefault({});

const evalSchema = strictObject({
  /** Evaluate every N optimizer steps (0 = only at the end). */
  every: z.number().int().min(0).max(1_000_000).default(100),
  /** Eval subset: the first N test images (docs/metrics.md default 2,048). */
  size: z.number().int().min(10).max(100_000).default(2048),
  /** kNN memory bank: the first N clean training images. */
  bankSize: z.number().int().min(10).max(1_000_000).default(10_000),
  knnK: positiveInt(10_000).default(200),
  knnTemperature: z.number().gt(0).max(10).default(0.1),
  linearProbe: z.boolean().default(false),
  /** Compute the 2-D PCA projection of the eval embeddings. */
  pca: z.boolean().default(true),
}).prefault({});

export const runConfigSchema = strictObject({
  /** Free-text name shown in the run list. */
  name: z.string().max(200).default(''),
  dataset: datasetSchema,
  encoder: encoderSchema,
  projector: projectorSchema,
  nn: nnSchema,
  loss: lossSchema,
  augment: augmentSchema,
  views: viewsSchema,
  batchSize: z.number().int().min(2).max(8192).default(256),
  epochs: z.number().gt(0).max(10_000).default(10),
  /** Cap on steps per epoch (0 = a full pass over the training split). */
  stepsPerEpoch: z.number().int().min(0).max(10_000_000).default(0),
  optimizer: optimizerSchema,
  schedule: scheduleSchema,
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .default(0),
  eval: evalSchema,
  /** Keep a checkpoint every N steps (0 = only at the end). */
  checkpointEvery: z.number().int().min(0).max(1_000_000).default(500),
  /** A protocol with its own data split and evaluation (protocols/config.ts); absent = plain pretraining. */
  protocol: protocolSchema.optional(),
});

export type RunConfig = z.infer<typeof runConfigSchema>;
export type RunConfigInput = z.input<typeof runConfigSchema>;
export type EncoderConfig = RunConfig['encoder'];
export type OptimizerConfig = RunConfig['optimizer'];
export type ScheduleConfig = RunConfig['schedule'];
export type NnConfig = RunConfig['nn'];

/** Total number of views a step produces. */
export function viewCount(config: RunConfig): number {
  return config.views.large + config.views.small;
}

/** The issue as "path: message (got value)" lines; an unknown field gets its own line under its full path. */
function describeIssue(issue: z.core.$ZodIssue, input: unknown): string[] {
  const prefix = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    // the schema's message carries the suggestions; one line per field keeps the paths exact
    const parts = issue.message.split('; also ');
    return issue.keys.map((key, i) => {
      const own =
        parts.find((part) => part.startsWith(`unknown field '${key}'`)) ?? parts[i] ?? issue.message;
      return `${[...prefix, key].join('.')}: ${own}`;
    });
  }
  const path = prefix.length ? prefix.join('.') : '(root)';
  let received: unknown = input;
  for (const key of issue.path) {
    received =
      received && typeof received === 'object' && Object.hasOwn(received, key)
        ? (received as Record<PropertyKey, unknown>)[key]
        : undefined;
  }
  const got = received === undefined ? '' : ` (got ${JSON.stringify(received)})`;
  return [`${path}: ${issue.message}${got}`];
}

/**
 * The problems of one augmentation pipeline against the RunConfig's augment schema, as `augment.<path>: message
 * (got value)` lines; empty when it is valid. The one validator of augmentation settings: the engine's
 * augmentBatch checks the pipelines it is given (multi-crop's small-view pipeline included) with it.
 */
export function augmentConfigProblems(augment: unknown): string[] {
  const result = augmentSchema.safeParse(augment);
  if (result.success) return [];
  return result.error.issues
    .flatMap((issue) => describeIssue(issue, augment))
    .map((line) => `augment.${line}`.replace('augment.(root)', 'augment'));
}

/**
 * Parses and validates a RunConfig; throws one Error listing every problem (path: message (got value)).
 * Strict: null, a non-object and any field the schema does not know are errors (the nearest valid name is
 * suggested), so a misspelt field never silently falls back to its default.
 */
export function parseRunConfig(input: unknown): RunConfig {
  if (input === null || input === undefined || typeof input !== 'object' || Array.isArray(input)) {
    const what = input === null ? 'null' : Array.isArray(input) ? 'an array' : typeof input;
    throw new Error(
      `invalid RunConfig:\n  - (root): the config is ${what}; it must be a JSON object ({} takes every default)`,
    );
  }
  const result = runConfigSchema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.flatMap((issue) => describeIssue(issue, input)).map((l) => `  - ${l}`);
    // report bad loss params in the same message, so the user fixes everything in one go
    const loss = (input as { loss?: { id?: unknown; params?: unknown } } | null)?.loss;
    if (loss && typeof loss.params === 'object' && loss.params !== null) {
      try {
        resolveLossParams(
          typeof loss.id === 'string' ? loss.id : 'ntxent',
          loss.params as Record<string, unknown>,
        );
      } catch (err) {
        lines.push(`  - loss.params: ${(err as Error).message}`);
      }
    }
    throw new Error(`invalid RunConfig:\n${lines.join('\n')}`);
  }
  const config = result.data;
  const problems: string[] = [];
  const def = lossInfo(config.loss.id);
  try {
    config.loss.params = resolveLossParams(config.loss.id, config.loss.params);
  } catch (err) {
    problems.push(`loss.params: ${(err as Error).message}`);
  }
  const views = viewCount(config);
  if (views < def.minViews || views > def.maxViews) {
    const allowed =
      def.maxViews === Infinity
        ? `>= ${def.minViews}`
        : def.minViews === def.maxViews
          ? `${def.minViews}`
          : `${def.minViews}..${def.maxViews}`;
    problems.push(
      `views: loss '${config.loss.id}' needs ${allowed} views in total, the config gives ${views} (views.large + views.small)`,
    );
  }
  if (config.dataset.target === 'size' && config.dataset.id !== 'synthetic') {
    problems.push(
      `dataset.target: 'size' is the synthetic shapes' radius; dataset '${config.dataset.id}' has no size target, use 'rotation' or the synthetic dataset`,
    );
  }
  if (def.needsTargets && config.dataset.target === 'class') {
    problems.push(
      `dataset.target: loss '${config.loss.id}' regresses a continuous target per image; set dataset.target to 'rotation' (or 'size' on the synthetic dataset)`,
    );
  }
  if (config.views.small > 0 && config.encoder.type === 'mlp') {
    problems.push(
      'views.small: multi-crop small views need an encoder with global pooling (convnet or resnet), not mlp',
    );
  }
  if (def.inputs === 'geometry') {
    // pixel pairs need a spatial map and two views of one size (lossInfo(...).inputs, losses/catalog.ts)
    if (config.encoder.type === 'mlp') {
      problems.push(
        `encoder: loss '${config.loss.id}' pairs pixels of the backbone's spatial map; the mlp encoder has none, use convnet or resnet`,
      );
    }
    if (config.views.small > 0) {
      problems.push(
        `views.small: loss '${config.loss.id}' compares two views of the same size; set views.small to 0 and views.large to 2`,
      );
    }
    if (config.nn.batchNormViews === 'per-view') {
      // its own forward pass runs both views through the backbone together (methods/pixpro.ts forwardViews)
      problems.push(
        `nn.batchNormViews: loss '${config.loss.id}' runs its two views through BatchNorm together; set nn.batchNormViews to 'joint'`,
      );
    }
  }
  if (config.encoder.type === 'resnet' && config.encoder.widths.length !== config.encoder.blocks.length) {
    problems.push(
      `encoder: resnet widths (${config.encoder.widths.length} stages) and blocks (${config.encoder.blocks.length}) must have the same length`,
    );
  }
  problems.push(...protocolProblems(config));
  if (problems.length) throw new Error(`invalid RunConfig:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return config;
}

/** A complete config with every default (what the UI starts from). */
export function defaultRunConfig(overrides: RunConfigInput = {}): RunConfig {
  return parseRunConfig(overrides);
}
