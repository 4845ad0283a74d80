import { evaluateEpisodes, sampleEpisodes, type Episode } from '../../metrics/few_shot';
import type { RunConfig } from '../config';
import type { Dataset, DatasetSplit } from '../data/types';
import { embedRows, protocolSeed, subsetSplit, type Protocol } from './common';
import type { FewShotConfig } from './config';
import type { FewShotResult } from './results';

const EPISODE_STREAM = 1;

/** The pretraining classes of `config` for a dataset of `classes` classes (default: the first half), validated. */
export function splitClasses(
  config: FewShotConfig,
  classes: number,
): { pretrain: number[]; heldOut: number[] } {
  const pretrain =
    config.pretrainClasses.length > 0
      ? [...config.pretrainClasses]
      : Array.from({ length: Math.floor(classes / 2) }, (_, c) => c);
  const outside = pretrain.filter((c) => c >= classes);
  if (outside.length > 0) {
    throw new Error(
      `protocol.pretrainClasses: class ${outside[0]} does not exist, the dataset has classes 0..${classes - 1}`,
    );
  }
  const chosen = new Set(pretrain);
  const heldOut = Array.from({ length: classes }, (_, c) => c).filter((c) => !chosen.has(c));
  if (pretrain.length === 0)
    throw new Error('protocol.pretrainClasses: pretraining needs at least one class');
  if (heldOut.length < config.ways) {
    throw new Error(
      `protocol: ${config.ways}-way episodes need ${config.ways} held-out classes, but ${heldOut.length} of the ${classes} classes are not pretrained on (protocol.pretrainClasses = [${pretrain.join(', ')}]); lower protocol.ways or pretrain on fewer classes`,
    );
  }
  return { pretrain: pretrain.sort((a, b) => a - b), heldOut };
}

/** Indices of the rows of `labels` whose class is in `classes`, in row order (at most `perClass` per class). */
export function rowsOfClasses(
  labels: ArrayLike<number>,
  classes: readonly number[],
  perClass = Infinity,
): number[] {
  const wanted = new Set(classes);
  const taken = new Map<number, number>();
  const rows: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    if (!wanted.has(c)) continue;
    const n = taken.get(c) ?? 0;
    if (n >= perClass) continue;
    taken.set(c, n + 1);
    rows.push(i);
  }
  return rows;
}

/**
 * BECLR's unsupervised few-shot protocol: the trainer sees only the pretraining classes (train and test splits
 * filtered by label, in row order); after every evaluation the backbone features of the held-out classes'
 * images (the first imagesPerClass of each, from protocol.split) are scored on seeded N-way K-shot episodes, the
 * same episodes at every evaluation, with and without OpTA.
 */
export function createFewShot(
  config: FewShotConfig,
  run: RunConfig,
  dataset: Dataset,
  splits: { train: DatasetSplit; test: DatasetSplit },
): Protocol {
  const { pretrain, heldOut } = splitClasses(config, dataset.classes.length);
  const train = subsetSplit(splits.train, rowsOfClasses(splits.train.labels, pretrain));
  const test = subsetSplit(splits.test, rowsOfClasses(splits.test.labels, pretrain));
  if (train.count === 0)
    throw new Error(
      `protocol: the training split has no image of the pretraining classes [${pretrain.join(', ')}]`,
    );
  const source = config.split === 'test' ? splits.test : splits.train;
  const pool = subsetSplit(source, rowsOfClasses(source.labels, heldOut, config.imagesPerClass));
  const maxShots = Math.max(...config.shots);
  const episodes: Episode[] = sampleEpisodes(pool.labels, heldOut, {
    ways: config.ways,
    maxShots,
    queries: config.queries,
    episodes: config.episodes,
    seed: protocolSeed(run.seed, EPISODE_STREAM),
  });
  const rows = Array.from({ length: pool.count }, (_, i) => i);
  return {
    type: 'few-shot',
    splits: { train, test },
    skipsPretraining: false,
    async evaluate(ctx) {
      let done = 0;
      const features = await embedRows(ctx, ctx.network, pool, rows, (n) =>
        ctx.progress((done += n), pool.count),
      );
      try {
        const values = (await features.data()) as Float32Array;
        const { opta } = config;
        const scores = evaluateEpisodes(values, features.shape[1], episodes, {
          shots: config.shots,
          opta: opta.enabled
            ? {
                epsilon: opta.epsilon,
                maxIterations: opta.maxIterations,
                threshold: 1e-4,
                oneShotPasses: opta.oneShotPasses,
                fewShotPasses: opta.fewShotPasses,
                ratio: opta.ratio,
              }
            : null,
        });
        const result: FewShotResult = {
          kind: 'few-shot',
          ways: config.ways,
          queries: config.queries,
          episodes: config.episodes,
          pretrainClasses: pretrain,
          heldOutClasses: heldOut,
          split: config.split,
          scores,
        };
        return result;
      } finally {
        features.dispose();
      }
    },
  };
}
