import * as tf from '@tensorflow/tfjs';
import { knnTop1 } from '../../metrics/knn';
import { linearProbeTop1 } from '../../metrics/linear_probe';
import type { SepclrModule } from '../../methods/sepclr';
import { Rng } from '../../nn/random';
import type { Network } from '../../nn/types';
import type { RunConfig } from '../config';
import type { Dataset, DatasetSplit } from '../data/types';
import { embedRows, protocolSeed, type Protocol, type ProtocolContext } from './common';
import { SALIENT_PATTERNS, type ContrastiveAnalysisConfig } from './config';
import type { ContrastiveAnalysisResult, SpaceScores } from './results';

const TRAIN_STREAM = 2;
const TEST_STREAM = 3;

/**
 * Where salient pattern `kind` is drawn on an height x width image (1 = drawn), with a period p = max(2,
 * round(min(height, width) / 7)) pixels: 0 horizontal stripes (row / p even), 1 vertical stripes, 2 checkerboard,
 * 3 diagonal stripes ((x + y) / p even), 4 a square over the top-left third, 5 a frame p pixels wide.
 */
export function patternMask(kind: number, height: number, width: number): Uint8Array {
  const p = Math.max(2, Math.round(Math.min(height, width) / 7));
  const mask = new Uint8Array(height * width);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const on = [
        Math.floor(y / p) % 2 === 0,
        Math.floor(x / p) % 2 === 0,
        (Math.floor(x / p) + Math.floor(y / p)) % 2 === 0,
        Math.floor((x + y) / p) % 2 === 0,
        x < width / 3 && y < height / 3,
        x < p || y < p || x >= width - p || y >= height - p,
      ][kind];
      if (on === undefined)
        throw new Error(`salient pattern ${kind} does not exist; there are ${SALIENT_PATTERNS.length}`);
      mask[y * width + x] = on ? 1 : 0;
    }
  }
  return mask;
}

/** A split with the target images marked: per row its group (1 target, 0 background) and pattern (-1 for none). */
export interface AnalysedSplit {
  split: DatasetSplit;
  groups: Int32Array;
  patterns: Int32Array;
}

/**
 * The background + target version of a split, seeded: each row independently becomes a target row with
 * probability targetFraction and gets pattern kind k (uniform over the first `patterns`), drawn as
 * pixel <- (1 - strength) pixel + strength 255 on the pattern's pixels (every channel). Background rows stay as
 * they are; labels (the common attribute) are unchanged.
 */
export function buildTargetSplit(
  split: DatasetSplit,
  imageShape: readonly [number, number, number],
  config: Pick<ContrastiveAnalysisConfig, 'targetFraction' | 'patterns' | 'strength'>,
  seed: number,
): AnalysedSplit {
  const [height, width, channels] = imageShape;
  const size = height * width * channels;
  const masks = Array.from({ length: config.patterns }, (_, k) => patternMask(k, height, width));
  const rng = new Rng(seed);
  const images = split.images.slice();
  const groups = new Int32Array(split.count);
  const patterns = new Int32Array(split.count).fill(-1);
  for (let i = 0; i < split.count; i++) {
    const isTarget = rng.next() < config.targetFraction;
    const kind = rng.int(config.patterns);
    if (!isTarget) continue;
    groups[i] = 1;
    patterns[i] = kind;
    const mask = masks[kind];
    for (let p = 0; p < height * width; p++) {
      if (!mask[p]) continue;
      for (let c = 0; c < channels; c++) {
        const at = i * size + p * channels + c;
        images[at] = Math.round((1 - config.strength) * images[at] + config.strength * 255);
      }
    }
  }
  return { split: { images, labels: split.labels, count: split.count }, groups, patterns };
}

/** The first `count` target rows of an analysed split. */
function targetRows(analysed: AnalysedSplit, count: number): number[] {
  const rows: number[] = [];
  for (let i = 0; i < analysed.groups.length && rows.length < count; i++)
    if (analysed.groups[i] === 1) rows.push(i);
  return rows;
}

async function scoreSpace(
  ctx: ProtocolContext,
  network: Network,
  bank: { split: AnalysedSplit; rows: number[] },
  query: { split: AnalysedSplit; rows: number[] },
  classes: number,
  patterns: number,
): Promise<SpaceScores> {
  const hBank = await embedRows(ctx, network, bank.split.split, bank.rows);
  const hQuery = await embedRows(ctx, network, query.split.split, query.rows);
  try {
    const pick = (values: Int32Array, rows: number[]) => Int32Array.from(rows, (r) => values[r]);
    const knn = {
      k: Math.min(ctx.config.eval.knnK, bank.rows.length),
      temperature: ctx.config.eval.knnTemperature,
    };
    const attribute = (labels: (s: AnalysedSplit) => Int32Array, numClasses: number) =>
      Promise.all([
        knnTop1(
          { embeddings: hBank, labels: pick(labels(bank.split), bank.rows) },
          { embeddings: hQuery, labels: pick(labels(query.split), query.rows) },
          { ...knn, numClasses },
        ),
        linearProbeTop1(
          { embeddings: hBank, labels: pick(labels(bank.split), bank.rows) },
          { embeddings: hQuery, labels: pick(labels(query.split), query.rows) },
          { numClasses },
        ),
      ]);
    const [salientKnn, salientProbe] = await attribute((s) => s.patterns, patterns);
    const [classKnn, classProbe] = await attribute((s) => s.split.labels, classes);
    return { salientKnn, salientProbe, classKnn, classProbe };
  } finally {
    tf.dispose([hBank, hQuery]);
  }
}

/**
 * SepCLR's contrastive-analysis setting built from the run's dataset: train and test splits become background +
 * target sets (buildTargetSplit, seeded from the run seed), the loss gets each row's group (inputs.groups), and
 * after every evaluation the target test images are scored from the common space (the trained network) and, with
 * loss 'sepclr', the salient space: the salient attribute (which pattern) and the class, by kNN and linear probe
 * against the target training images.
 */
export function createContrastiveAnalysis(
  config: ContrastiveAnalysisConfig,
  run: RunConfig,
  dataset: Dataset,
  splits: { train: DatasetSplit; test: DatasetSplit },
): Protocol {
  const train = buildTargetSplit(
    splits.train,
    dataset.imageShape,
    config,
    protocolSeed(run.seed, TRAIN_STREAM),
  );
  const test = buildTargetSplit(splits.test, dataset.imageShape, config, protocolSeed(run.seed, TEST_STREAM));
  const bankRows = targetRows(train, config.evalImages);
  const queryRows = targetRows(test, config.evalImages);
  if (bankRows.length < 2 || queryRows.length < 1) {
    throw new Error(
      `protocol: the target dataset has ${bankRows.length} training and ${queryRows.length} test images; raise protocol.targetFraction or use more images`,
    );
  }
  const names = SALIENT_PATTERNS.slice(0, config.patterns);
  return {
    type: 'contrastive-analysis',
    splits: { train: train.split, test: test.split },
    skipsPretraining: false,
    stepInputs(indices) {
      return {
        groups: tf.tensor1d(
          Int32Array.from(indices, (i) => train.groups[i]),
          'int32',
        ),
      };
    },
    async evaluate(ctx) {
      const classes = ctx.dataset.classes.length;
      const bank = { split: train, rows: bankRows };
      const query = { split: test, rows: queryRows };
      const spaces = ctx.loss.id === 'sepclr' ? 2 : 1;
      ctx.progress(0, spaces);
      const common = await scoreSpace(ctx, ctx.network, bank, query, classes, config.patterns);
      ctx.progress(1, spaces);
      const salientNetwork = ctx.loss.id === 'sepclr' ? (ctx.loss as SepclrModule).salientNetwork : null;
      const salient = salientNetwork
        ? await scoreSpace(ctx, salientNetwork, bank, query, classes, config.patterns)
        : null;
      const result: ContrastiveAnalysisResult = {
        kind: 'contrastive-analysis',
        patterns: [...names],
        targetImages: queryRows.length,
        bankImages: bankRows.length,
        common,
        salient,
        chance: { salient: 1 / config.patterns, class: 1 / classes },
      };
      return result;
    },
  };
}
