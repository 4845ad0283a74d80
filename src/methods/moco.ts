import * as tf from '@tensorflow/tfjs';
import type { Network } from '../nn/types';
import { Rng } from '../nn/random';
import { lse, normalizeRows, stopGradient } from '../nn/rows';
import { checkViews } from '../losses/views';
import {
  checkEmbeddingViews,
  checkStateShapes,
  cloneTarget,
  momentumUpdate,
  notBoundError,
  requireImages,
  restoreWeights,
  weightShapes,
  weightsState,
  type TargetPairs,
} from './target';
import type { MethodBinding, MethodModule } from './types';

export interface MocoParams extends Record<string, number> {
  K: number;
  m: number;
  tau: number;
}

/** K random unit vectors of dimension D (rows ~ N(0, I), normalised), from a seed: MoCo's initial queue. */
export function randomUnitRows(seed: number, K: number, D: number): tf.Tensor2D {
  const rng = new Rng(seed);
  const values = Float32Array.from({ length: K * D }, () => rng.normal());
  return tf.tidy(() => normalizeRows(tf.tensor2d(values, [K, D])));
}

/**
 * Where each queue slot's new content comes from when `batch` keys are enqueued at `pointer` into a ring buffer
 * of `K` rows: an index into concat([queue, keys]). Key j goes to slot (pointer + j) mod K; when batch > K the
 * later (newest) keys overwrite the earlier ones, so the queue keeps the newest K keys.
 */
export function enqueueSources(K: number, pointer: number, batch: number): number[] {
  const sources = Array.from({ length: K }, (_, slot) => slot);
  for (let j = 0; j < batch; j++) sources[(pointer + j) % K] = K + j;
  return sources;
}

/** What bind() creates. */
interface MocoState {
  online: Network;
  keyEncoder: Network;
  pairs: TargetPairs;
  /** [K, D] unit keys of earlier batches (non-trainable). */
  queue: tf.Variable;
}

export function createMoco(params: MocoParams): MethodModule {
  const { K, m, tau } = params;
  let bound: MocoState | null = null;
  let queuePointer = 0;
  // Keys of the last compute(), enqueued by afterStep() so the loss of a step always uses the old queue.
  let pendingKeys: tf.Tensor2D | null = null;

  const releasePendingKeys = (): void => {
    pendingKeys?.dispose();
    pendingKeys = null;
  };
  const release = (): void => {
    releasePendingKeys();
    if (bound) {
      bound.keyEncoder.dispose();
      bound.queue.dispose();
    }
    bound = null;
    queuePointer = 0;
  };
  const stateShapes = (state: MocoState): [string, number[]][] => [
    ['queue', [K, state.online.embeddingDim]],
    ['queuePointer', []],
    ...weightShapes('keyEncoder', state.keyEncoder.allWeights),
  ];

  return {
    id: 'moco',
    trainableVariables: [],
    bind(binding: MethodBinding) {
      release();
      const { target, pairs } = cloneTarget('moco', binding.network);
      const queue = tf.tidy(() =>
        tf.variable(randomUnitRows(binding.seed, K, binding.network.embeddingDim), false),
      );
      bound = { online: binding.network, keyEncoder: target, pairs, queue };
    },
    compute(inputs) {
      checkViews('moco', inputs.views, 2, 2);
      if (!bound) throw notBoundError('moco', 'compute');
      checkEmbeddingViews('moco', inputs.views, bound.online.embeddingDim);
      const [, keyImages] = requireImages('moco', inputs, 2);
      const { keyEncoder, queue } = bound;
      return tf.tidy(() => {
        const queries = normalizeRows(inputs.views[0]);
        // Training mode as in the reference code (key encoder BatchNorm uses batch statistics).
        const keys = stopGradient(normalizeRows(keyEncoder.forward(keyImages, true).z)) as tf.Tensor2D;
        const positive = tf.sum(tf.mul(queries, keys), 1, true);
        const negatives = tf.matMul(queries, queue, false, true);
        const logits = tf.div(tf.concat([positive, negatives], 1), tau);
        // Cross-entropy with label 0 (the positive key): LSE(logits) - logits[:, 0].
        const perQuery = tf.sub(lse(logits, 1), tf.squeeze(tf.div(positive, tau), [1]));
        releasePendingKeys();
        pendingKeys = tf.keep(keys.clone());
        return tf.mean(perQuery) as tf.Scalar;
      });
    },
    afterStep() {
      if (!bound) throw notBoundError('moco', 'afterStep');
      const { queue, pairs } = bound;
      if (pendingKeys) {
        const keys = pendingKeys;
        const sources = enqueueSources(K, queuePointer, keys.shape[0]);
        tf.tidy(() => {
          queue.assign(tf.gather(tf.concat([queue, keys], 0), tf.tensor1d(sources, 'int32')));
        });
        queuePointer = (queuePointer + keys.shape[0]) % K;
        releasePendingKeys();
      }
      // The paper updates the key encoder right before computing the keys of a step; doing it here, after
      // step t, is the same as doing it before the keys of step t + 1 (and at step 1 it would be a no-op, since
      // the key encoder starts as an exact copy).
      momentumUpdate(pairs, m);
    },
    getState() {
      if (!bound) throw notBoundError('moco', 'getState');
      return {
        queue: bound.queue.clone(),
        queuePointer: tf.scalar(queuePointer, 'int32'),
        ...weightsState('keyEncoder', bound.keyEncoder.allWeights),
      };
    },
    setState(state) {
      if (!bound) throw notBoundError('moco', 'setState');
      checkStateShapes('moco', state, stateShapes(bound));
      const pointer = state.queuePointer.arraySync() as number;
      if (!Number.isInteger(pointer) || pointer < 0 || pointer >= K) {
        throw new Error(
          `loss 'moco'.setState: queuePointer must be an integer in [0, ${K - 1}] (K = ${K}), got ${pointer}`,
        );
      }
      bound.queue.assign(state.queue);
      restoreWeights('keyEncoder', bound.keyEncoder.allWeights, state);
      queuePointer = pointer;
      releasePendingKeys();
    },
    dispose() {
      release();
    },
  };
}

/**
 * MoCo v2, momentum contrast with a queue of negatives (He et al. 2020, "Momentum Contrast for Unsupervised
 * Visual Representation Learning"; v2 = Chen et al. 2020, "Improved Baselines with Momentum Contrastive Learning").
 *
 *   q_i = norm(views[0]_i);  k_i = sg(norm(f_k(images[1])_i)) from the momentum key encoder f_k;
 *   l_i = -q_i.k_i / tau + LSE( [q_i.k_i, q_i.queue_1, ..., q_i.queue_K] / tau );   L = mean_i l_i
 *
 * After each optimizer step: enqueue the batch's keys (ring buffer of K keys; the newest K when N > K), then
 * theta_k <- m theta_k + (1 - m) theta_q. The queue starts as K random unit vectors (seeded by bind's seed);
 * the key encoder starts as a copy of the online network. views[1] is not used (asymmetric MoCo v2 loss).
 * Needs bind() (the network to copy) and inputs.images. Example: `createLoss('moco', { K: 4096, m: 0.99 })`.
 */
