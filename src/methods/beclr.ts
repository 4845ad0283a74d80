import * as tf from '@tensorflow/tfjs';
import { checkViews } from '../losses/views';
import type { Network } from '../nn/types';
import { Rng } from '../nn/random';
import { MASK_NEG, normalizeRows, stopGradient } from '../nn/rows';
import { byolTargetDecay } from './byol';
import { DyceMemory, KMEANS_ITERATIONS, DYCE_SINKHORN } from './dyce';
import {
  buildPredictor,
  checkEmbeddingViews,
  checkStateShapes,
  cloneTarget,
  meanRowCosine,
  modelVariables,
  momentumUpdate,
  notBoundError,
  predict,
  requireImages,
  restoreWeights,
  weightShapes,
  weightsState,
  type TargetPairs,
} from './target';
import type { MethodBinding, MethodModule, StepInfo } from './types';

export interface BeclrParams extends Record<string, number> {
  /** lambda: weight of the negative (uniformity) term. */
  lambdaNeg: number;
  /** T: temperature of the negative term. */
  temp: number;
  baseEma: number;
  predHidden: number;
  /** 1 = DyCE on, 0 = off (plain batch). */
  dyce: number;
  topk: number;
  partitions: number;
  memory: number;
  /** Epochs before the enhanced batch is used (the memory keeps filling meanwhile). */
  startEpoch: number;
}

/**
 * The BECLR objective on (possibly DyCE-enhanced) batches of b rows per view, row r of every view being the same
 * pair: p = student predictions, t = teacher projections (constants), z = student projections.
 *   L_pos = -(mean_r cos(p1_r, t2_r) + mean_r cos(p2_r, t1_r)) / 2
 *   L_neg = log( (1 / 2b) sum_r (1 / (2b - 2)) sum_{c not in {r, r+-b}} exp(u_r . u_c / T) ),  u = norm([z1; z2])
 *   L = L_pos + lambda L_neg
 */
export function beclrLoss(
  rows: {
    p1: tf.Tensor2D;
    p2: tf.Tensor2D;
    t1: tf.Tensor2D;
    t2: tf.Tensor2D;
    z1: tf.Tensor2D;
    z2: tf.Tensor2D;
  },
  lambdaNeg: number,
  temp: number,
): tf.Scalar {
  const b = rows.z1.shape[0];
  if (b < 2)
    throw new Error(`loss 'beclr' needs at least 2 instances per batch, got ${b}; increase the batch size`);
  return tf.tidy(() => {
    const pos = tf.div(tf.add(meanRowCosine(rows.p1, rows.t2), meanRowCosine(rows.p2, rows.t1)), -2);
    const u = tf.concat([normalizeRows(rows.z1), normalizeRows(rows.z2)], 0);
    const excluded = tf.tile(tf.eye(b), [2, 2]); // self and the other view of the same row
    const logits = tf.add(tf.div(tf.matMul(u, u, false, true), temp), tf.mul(excluded, MASK_NEG));
    const neg = tf.sub(tf.logSumExp(tf.reshape(logits, [-1])), Math.log(2 * b) + Math.log(2 * b - 2));
    return tf.add(pos, tf.mul(lambdaNeg, neg)) as tf.Scalar;
  });
}

/** A beclr MethodModule plus read access to its DyCE state (tests, diagnostics). */
export interface BeclrModule extends MethodModule {
  /** True while the enhanced batch is in use (DyCE on, memories clustered, startEpoch reached). */
  readonly enhancing: boolean;
  bind(binding: MethodBinding): void;
  afterStep(info: StepInfo): void;
  getState(): Record<string, tf.Tensor>;
  setState(state: Record<string, tf.Tensor>): void;
}

interface Bound {
  online: Network;
  target: Network;
  pairs: TargetPairs;
  predictor: tf.LayersModel;
  stepsPerEpoch: number;
  /** Teacher projections, student predictions, student projections. */
  memories: [DyceMemory, DyceMemory, DyceMemory] | null;
}

const MEMORY_NAMES = ['teacher', 'prediction', 'projection'] as const;

/**
 * BECLR pretraining (Poulakakis-Daktylidis & Jamali-Rad 2024, "BECLR: Batch Enhanced Contrastive Few-Shot
 * Learning", ICLR 2024, arXiv 2402.02444): a student (the trained network + a predictor) and an EMA teacher, the
 * loss of beclrLoss, and, with dyce = 1, three DyCE memories (dyce.ts) that enhance the batch: every row of the
 * teacher projections, student predictions and student projections gets its k nearest memory embeddings of its
 * nearest partition appended (in the same row order in both views, so that the appended rows pair up). The memories
 * are searched before the batch is written into them. Needs bind() and inputs.images.
 */
export function createBeclr(params: BeclrParams): BeclrModule {
  const { lambdaNeg, temp, baseEma, predHidden, topk, partitions, memory, startEpoch } = params;
  const dyceOn = params.dyce >= 1;
  let bound: Bound | null = null;
  let stepsDone = 0;
  /** Detached rows of the last compute(), written into the memories by afterStep. */
  let pending: tf.Tensor2D[] | null = null;

  const dropPending = () => {
    if (pending) tf.dispose(pending);
    pending = null;
  };
  const release = () => {
    dropPending();
    if (bound) {
      bound.target.dispose();
      bound.predictor.dispose();
      bound.memories?.forEach((m) => m.dispose());
    }
    bound = null;
  };
  const enhancing = (): boolean =>
    !!bound?.memories &&
    bound.memories.every((m) => m.ready) &&
    stepsDone >= startEpoch * bound.stepsPerEpoch;
  const stateShapes = (b: Bound): [string, number[]][] => [
    ...weightShapes('target', b.target.allWeights),
    ...weightShapes('predictor', b.predictor.weights),
    ...(b.memories ?? []).flatMap((m, i) => m.stateShapes(`memory.${MEMORY_NAMES[i]}`)),
    ['stepsDone', []],
  ];

  return {
    id: 'beclr',
    get enhancing() {
      return enhancing();
    },
    get trainableVariables() {
      return bound ? modelVariables(bound.predictor) : [];
    },
    bind(binding: MethodBinding) {
      release();
      const { target, pairs } = cloneTarget('beclr', binding.network);
      const rng = new Rng(binding.seed);
      const predictor = buildPredictor(
        binding.network.embeddingDim,
        predHidden,
        rng.fork(),
        'beclr_predictor',
      );
      const memorySeed = rng.fork();
      const memories = dyceOn
        ? (MEMORY_NAMES.map(
            (_, i) =>
              new DyceMemory(binding.network.embeddingDim, {
                size: memory,
                partitions,
                topk,
                epsilon: DYCE_SINKHORN.epsilon,
                sinkhornIterations: DYCE_SINKHORN.iterations,
                kmeansIterations: KMEANS_ITERATIONS,
                seed: memorySeed + i,
              }),
          ) as [DyceMemory, DyceMemory, DyceMemory])
        : null;
      bound = {
        online: binding.network,
        target,
        pairs,
        predictor,
        stepsPerEpoch: binding.stepsPerEpoch,
        memories,
      };
      stepsDone = 0;
    },
    compute(inputs) {
      checkViews('beclr', inputs.views, 2, 2);
      if (!bound) throw notBoundError('beclr', 'compute');
      checkEmbeddingViews('beclr', inputs.views, bound.online.embeddingDim);
      const images = requireImages('beclr', inputs, 2);
      const { target, predictor, memories } = bound;
      const enhance = enhancing();
      dropPending();
      return tf.tidy(() => {
        const [z1, z2] = inputs.views;
        const p1 = predict(predictor, z1);
        const p2 = predict(predictor, z2);
        // teacher in training mode, as BYOL's target here (batch statistics in its BatchNorm)
        const [t1, t2] = images.map((batch) => stopGradient(target.forward(batch, true).z) as tf.Tensor2D);
        if (memories) {
          // the memories take the detached rows after the optimizer step (afterStep)
          pending = [
            tf.concat([t1, t2], 0),
            stopGradient(tf.concat([p1, p2], 0)),
            stopGradient(tf.concat([z1, z2], 0)),
          ].map((t) => tf.keep(t as tf.Tensor2D));
        }
        const grow = (k: number, x: tf.Tensor2D) => (enhance && memories ? memories[k].enhance(x) : x);
        return beclrLoss(
          {
            t1: grow(0, t1),
            t2: grow(0, t2),
            p1: grow(1, p1),
            p2: grow(1, p2),
            z1: grow(2, z1),
            z2: grow(2, z2),
          },
          lambdaNeg,
          temp,
        );
      });
    },
    afterStep(info: StepInfo) {
      if (!bound) throw notBoundError('beclr', 'afterStep');
      momentumUpdate(bound.pairs, byolTargetDecay(info.step, info.totalSteps, baseEma));
      stepsDone = info.step;
      if (bound.memories && pending) bound.memories.forEach((m, i) => m.update(pending![i]));
      dropPending();
    },
    getState() {
      if (!bound) throw notBoundError('beclr', 'getState');
      return {
        ...weightsState('target', bound.target.allWeights),
        ...weightsState('predictor', bound.predictor.weights),
        ...Object.assign(
          {},
          ...(bound.memories ?? []).map((m, i) => m.getState(`memory.${MEMORY_NAMES[i]}`)),
        ),
        stepsDone: tf.scalar(stepsDone, 'int32'),
      };
    },
    setState(state) {
      if (!bound) throw notBoundError('beclr', 'setState');
      checkStateShapes('beclr', state, stateShapes(bound));
      restoreWeights('target', bound.target.allWeights, state);
      restoreWeights('predictor', bound.predictor.weights, state);
      bound.memories?.forEach((m, i) => m.setState(`memory.${MEMORY_NAMES[i]}`, state));
      stepsDone = state.stepsDone.dataSync()[0];
    },
    dispose() {
      release();
    },
  };
}
