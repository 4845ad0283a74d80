import * as tf from '@tensorflow/tfjs';
import type { MethodInputs, MethodModule } from '../../methods/types';
import type { Network } from '../../nn/types';
import type { RunConfig } from '../config';
import { batchToTensor } from '../data/index';
import type { Dataset, DatasetSplit } from '../data/types';
import { yieldToHost } from '../host';
import type { ProtocolResult } from './results';

/** What every protocol shares: the hooks the trainer calls, the context it lends, seeds, splits, embeddings. */

/** What the trainer lends a protocol while it evaluates or runs its stage. */
export interface ProtocolContext {
  config: RunConfig;
  dataset: Dataset;
  /** The run's network (backbone + projector) as trained so far. */
  network: Network;
  /** The run's objective (sepclr holds the salient encoder). */
  loss: MethodModule;
  /** The trainer's splits (the protocol's, see Protocol.splits) and the training images in use. */
  train: DatasetSplit;
  test: DatasetSplit;
  trainCount: number;
  step: number;
  epoch: number;
  /** The run's input standardisation (per channel, as in training). */
  standardize(images: tf.Tensor4D): tf.Tensor4D;
  /** Reports progress in the status line ('evaluating', done of total). */
  progress(done: number, total: number): void;
  /** A pending stop / pause / failure, honoured by the trainer (events emitted): the stage must return it. */
  interrupted(): 'stopped' | 'paused' | 'error' | null;
  /** Emits a result now (the fine-tuning stage reports as it goes). */
  report(result: ProtocolResult, evalMs: number): void;
}

export interface Protocol {
  readonly type: NonNullable<RunConfig['protocol']>['type'];
  /** The splits the trainer trains and evaluates on (few-shot: the pretraining classes; contrastive analysis:
   * background + target images). */
  readonly splits: { train: DatasetSplit; test: DatasetSplit };
  /** No pretraining step at all (fine-tuning from the weights as they are). */
  readonly skipsPretraining: boolean;
  /** Extra loss inputs for the training rows `indices` (called inside the step's tf.tidy). */
  stepInputs?(indices: number[]): Partial<MethodInputs>;
  /** Runs after each 'eval' (same step); its result becomes a 'protocol-eval' event. */
  evaluate?(ctx: ProtocolContext): Promise<ProtocolResult>;
  /** Runs once after the last step; returns null when done, or the trainer's outcome of an interruption. */
  stage?(ctx: ProtocolContext): Promise<'stopped' | 'paused' | 'error' | null>;
}

/** A 31-bit seed from (run seed, purpose, index), as the trainer derives its streams (purposes >= 100 here). */
export function protocolSeed(seed: number, purpose: number, index = 0): number {
  let x = (seed ^ Math.imul(purpose + 100, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) & 0x7fffffff;
}

/** The rows `indices` of a split as a new split (pixels copied, labels in the same order). */
export function subsetSplit(split: DatasetSplit, indices: ArrayLike<number>): DatasetSplit {
  const imageSize = split.images.length / Math.max(split.count, 1);
  const images = new Uint8Array(indices.length * imageSize);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const from = indices[i] * imageSize;
    images.set(split.images.subarray(from, from + imageSize), i * imageSize);
    labels[i] = split.labels[indices[i]];
  }
  return { images, labels, count: indices.length };
}

const EMBED_CHUNK = 256;

/**
 * Backbone features h of the rows `indices` of a split, embedded by `network` in inference mode after the run's
 * standardisation, in chunks (yielding to the host after each); a [rows, featureDim] tensor, the caller's.
 */
export async function embedRows(
  ctx: Pick<ProtocolContext, 'standardize' | 'dataset'>,
  network: Network,
  split: DatasetSplit,
  indices: number[],
  onChunk?: (rows: number) => void,
): Promise<tf.Tensor2D> {
  const parts: tf.Tensor2D[] = [];
  try {
    for (let start = 0; start < indices.length; start += EMBED_CHUNK) {
      const chunk = indices.slice(start, start + EMBED_CHUNK);
      parts.push(
        tf.tidy(() => {
          const { h, z } = network.forward(
            ctx.standardize(batchToTensor(split, chunk, ctx.dataset.imageShape)),
            false,
          );
          z.dispose();
          return h;
        }),
      );
      onChunk?.(chunk.length);
      await yieldToHost();
    }
    return tf.concat(parts, 0) as tf.Tensor2D;
  } finally {
    tf.dispose(parts);
  }
}
