import { z } from 'zod';
import { nearestName } from '../../losses/catalog';

/**
 * The optional `protocol` section of a RunConfig: a protocol of the literature that is more than a training loss,
 * with its own data split and evaluation (docs/metrics.md, README "Protocols"). Plain zod without tfjs, so that the
 * UI validates it on the main thread. Absent = a plain pretraining run, exactly as without this section.
 *
 *   few-shot              BECLR's unsupervised few-shot protocol: pretrain on some classes, N-way K-shot episodes
 *                         on the held-out ones (with and without OpTA)
 *   fine-tune             a fine-tuning stage after pretraining (or from imported weights): Core-tuning against
 *                         plain fine-tuning and the linear probe, test accuracy tracked
 *   contrastive-analysis  SepCLR's setting: a background and a target dataset (a salient pattern superimposed on
 *                         the target images), both spaces evaluated
 */

/** Strict object: an unknown field is an error naming the nearest valid one (as config.ts does). */
function strict<T extends z.core.$ZodLooseShape>(shape: T) {
  const valid = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? issue.keys
            .map((key) => {
              const nearest = nearestName(key, valid);
              return nearest
                ? `unknown field '${key}' (did you mean '${nearest}'?)`
                : `unknown field '${key}'; the fields here are: ${valid.join(', ')}`;
            })
            .join('; also ')
        : undefined,
  });
}

const int = (min: number, max: number) => z.number().int().min(min).max(max);

export const PROTOCOL_TYPES = ['few-shot', 'fine-tune', 'contrastive-analysis'] as const;
export type ProtocolType = (typeof PROTOCOL_TYPES)[number];

const optaSchema = strict({
  /** Report the accuracy with OpTA next to the plain one (false: plain only). */
  enabled: z.boolean().default(true),
  /** OpTA passes in the 1-shot setting (the reference's 5) and with more shots (1). */
  oneShotPasses: int(1, 100).default(5),
  fewShotPasses: int(1, 100).default(1),
  /** With more than one shot: P = ratio P_OpTA + (1 - ratio) P. */
  ratio: z.number().min(0).max(1).default(0.7),
  /** Sinkhorn entropy on the cost normalised to [0, 1], and its iteration cap. */
  epsilon: z.number().gt(0).max(10).default(0.05),
  maxIterations: int(1, 100_000).default(1000),
}).prefault({});

export const fewShotSchema = strict({
  type: z.literal('few-shot'),
  /** Classes pretrained on; every other class is held out for the episodes. [] = the first half (rounded down). */
  pretrainClasses: z.array(int(0, 999)).max(1000).default([]),
  ways: int(2, 100).default(5),
  /** The K of every K-shot setting evaluated. */
  shots: z.array(int(1, 100)).min(1).max(8).default([1, 5]),
  /** Query images per class and episode. */
  queries: int(1, 1000).default(15),
  episodes: int(1, 100_000).default(600),
  /** Held-out images embedded per class (the first ones of the split): the pool the episodes draw from. */
  imagesPerClass: int(2, 100_000).default(200),
  /** Where the held-out classes' images come from: the test split, or the train split (never trained on either). */
  split: z.enum(['test', 'train']).default('test'),
  opta: optaSchema,
});

const coreTuningSchema = strict({
  /** eta: weight of the focal contrastive regulariser. */
  eta: z.number().min(0).max(100).default(1),
  /** Temperature of the focal contrastive loss. */
  tau: z.number().gt(0).max(10).default(0.07),
  /** Beta(alpha, alpha) of the mixing weights. */
  alpha: z.number().gt(0).max(100).default(1),
  /** Output width of the contrastive head (Linear -> ReLU -> Linear on the backbone features). */
  contrastDim: int(2, 4096).default(128),
  /** Hard positive / negative generation by mixing features (off: the contrastive term sees the batch only). */
  hardPairs: z.boolean().default(true),
  /** Smooth-boundary mixup: the classifier also trains on the generated samples with mixed labels. */
  mixup: z.boolean().default(true),
}).prefault({});

export const fineTuneSchema = strict({
  type: z.literal('fine-tune'),
  /** 'pretrain': fine-tune after this run's pretraining; 'weights': no pretraining, fine-tune the network as it is
   * (imported weights, or the random initialisation as a baseline). */
  from: z.enum(['pretrain', 'weights']).default('pretrain'),
  epochs: z.number().gt(0).max(1000).default(5),
  /** Cap on fine-tuning steps per epoch (0 = a full pass over the training split). */
  stepsPerEpoch: int(0, 10_000_000).default(0),
  batchSize: int(2, 4096).default(64),
  optimizer: z.enum(['sgd', 'adamw']).default('sgd'),
  lr: z.number().gt(0).max(10).default(0.01),
  weightDecay: z.number().min(0).max(1).default(1e-4),
  /** Test accuracy every N fine-tuning steps (0 = after every fine-tuning epoch). */
  evalEvery: int(0, 1_000_000).default(0),
  coreTuning: coreTuningSchema,
  /** Also run plain fine-tuning (cross-entropy only, the same stage with the regulariser off). */
  baseline: z.boolean().default(true),
  /** Also report the linear probe on the frozen pretrained features. */
  linearProbe: z.boolean().default(true),
});

export const SALIENT_PATTERNS = [
  'horizontal stripes',
  'vertical stripes',
  'checkerboard',
  'diagonal stripes',
  'corner square',
  'frame',
] as const;

export const contrastiveAnalysisSchema = strict({
  type: z.literal('contrastive-analysis'),
  /** Share of the images that form the target dataset (the rest is the background dataset). */
  targetFraction: z.number().min(0.05).max(0.95).default(0.5),
  /** Kinds of salient pattern (the salient attribute), the first N of SALIENT_PATTERNS. */
  patterns: int(2, SALIENT_PATTERNS.length).default(4),
  /** Blend weight of the pattern over the image where it is drawn. */
  strength: z.number().min(0.05).max(1).default(0.6),
  /** Target images evaluated (test split) and in the kNN bank / probe training set (train split), at most. */
  evalImages: int(10, 100_000).default(1000),
});

export const protocolSchema = z.discriminatedUnion('type', [
  fewShotSchema,
  fineTuneSchema,
  contrastiveAnalysisSchema,
]);

export type ProtocolConfig = z.infer<typeof protocolSchema>;
export type FewShotConfig = z.infer<typeof fewShotSchema>;
export type FineTuneConfig = z.infer<typeof fineTuneSchema>;
export type ContrastiveAnalysisConfig = z.infer<typeof contrastiveAnalysisSchema>;

/** What protocolProblems reads of a RunConfig (a structural type, so config.ts can call it without a cycle). */
interface ConfigView {
  loss: { id: string; params: Record<string, number> };
  protocol?: ProtocolConfig;
}

/**
 * Cross-field problems of the protocol and the objectives made for one: "path: message" lines (empty when fine).
 */
export function protocolProblems(config: ConfigView): string[] {
  const problems: string[] = [];
  const { protocol, loss } = config;
  if (loss.id === 'sepclr' && protocol?.type !== 'contrastive-analysis') {
    problems.push(
      "protocol: loss 'sepclr' separates a background from a target dataset: set protocol.type to 'contrastive-analysis'",
    );
  }
  if (loss.id === 'beclr') {
    const { memory, partitions, topk } = loss.params;
    if (memory < partitions)
      problems.push(
        `loss.params.memory: the DyCE memory (${memory}) must hold at least its ${partitions} partitions`,
      );
    if (memory < topk)
      problems.push(`loss.params.memory: the DyCE memory (${memory}) must hold at least topk = ${topk} rows`);
  }
  if (protocol?.type === 'few-shot') {
    const duplicates = protocol.pretrainClasses.filter((c, i) => protocol.pretrainClasses.indexOf(c) !== i);
    if (duplicates.length > 0)
      problems.push(`protocol.pretrainClasses: class ${duplicates[0]} is listed twice`);
    const shots = protocol.shots;
    if (new Set(shots).size !== shots.length)
      problems.push(`protocol.shots: a K is listed twice (${shots.join(', ')})`);
  }
  return problems;
}
