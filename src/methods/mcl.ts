import * as tf from '@tensorflow/tfjs';
import { mclStageLoss } from '../losses/mcl';
import { checkViews } from '../losses/views';
import { normalizeRows } from '../nn/rows';
import type { Network } from '../nn/types';
import { kmeans } from './kmeans';
import { checkStateShapes, notBoundError, restoreWeights, weightShapes, weightsState } from './target';
import type { MethodBinding, MethodModule, StepBoundaryContext } from './types';

export interface MclParams extends Record<string, number> {
  tau: number;
  stages: number;
  clusters: number;
  stageSteps: number;
  reinit: number;
}

/** Lloyd iterations of the per-stage k-means (k-means++ start; it usually settles well before). */
const KMEANS_ITERATIONS = 30;

interface MclBound {
  network: Network;
  totalSteps: number;
  stageLength: number;
  trainCount: number;
  seed: number;
  /** One network per earlier stage (stages - 1), frozen at the end of its stage; unused until then. */
  frozen: Network[];
  /** The network's weights at bind (all of them, BatchNorm statistics too), when reinit = 1. */
  initial: tf.Tensor[] | null;
}

/** An mcl MethodModule plus what the UI and tests read. */
export interface MclModule extends MethodModule {
  bind(binding: MethodBinding): void;
  atStepBoundary(ctx: StepBoundaryContext): Promise<void>;
  evalFeatures(h: tf.Tensor2D, images: tf.Tensor4D): tf.Tensor2D;
  stage(): number;
  getState(): Record<string, tf.Tensor>;
  setState(state: Record<string, tf.Tensor>): void;
  /** Every training image's group for the current stage (all 0 in stage 1); null before bind(). */
  readonly groups: Int32Array | null;
  /** Optimizer steps per stage (the last stage runs to the end of the run); 0 before bind(). */
  readonly stageLength: number;
}

/** Row-normalises a row-major [n, d] matrix in place (the k-means of MCL runs on unit features). */
function normalizeInPlace(values: Float32Array, n: number, d: number): void {
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = 0; j < d; j++) sum += values[i * d + j] ** 2;
    const scale = 1 / Math.max(Math.sqrt(sum), 1e-12);
    for (let j = 0; j < d; j++) values[i * d + j] *= scale;
  }
}

/**
 * Refines groups by clusters: images share a new group when they shared the old one and fall in the same cluster
 * (the intersection of every stage's clusters so far), numbered densely in order of first appearance.
 */
export function refineGroups(groups: Int32Array, clusters: Int32Array, k: number): Int32Array {
  const ids = new Map<number, number>();
  return Int32Array.from(groups, (group, i) => {
    const key = group * k + clusters[i];
    let id = ids.get(key);
    if (id === undefined) {
      id = ids.size;
      ids.set(key, id);
    }
    return id;
  });
}

/**
 * MCL, multistage contrastive learning (Zhang, Lan, Qu, Cheng, Feng & Hooi, "Learning the Unlearned: Mitigating
 * Feature Suppression in Contrastive Learning", ECCV 2024, arXiv 2402.11816), SimCLR form:
 *
 * - the run trains `stages` stages of `stageSteps` optimizer steps (0 = the run split evenly; the last stage runs
 *   to the end of the run);
 * - at the end of stage s (atStepBoundary), the stage's clean features h of every training image are
 *   row-normalised and clustered by k-means (`clusters` centres, k-means++ from a seed derived from the run's),
 *   each image's group becomes (its group, its cluster): the intersection of all preceding stages' clusters; the
 *   stage's network is frozen (a copy kept) and, with reinit = 1, the network restarts from the run's initial
 *   weights with a fresh optimizer (every stage starts from the same initialisation, as every CLIP stage of the
 *   paper starts from the same pre-trained weights);
 * - stage s + 1 minimises mclStageLoss: InfoNCE whose negatives are only the batch rows of the anchor's group;
 * - the representation (evalFeatures) is the concatenation of every stage's features, each block
 *   row-normalised and scaled by 1/sqrt(blocks) (cross-stage representation integration).
 * Example: `createLoss('mcl', { stages: 3, clusters: 10 })`, driven by the Trainer.
 */
export function createMcl(params: MclParams): MclModule {
  const { tau, stages, clusters, stageSteps, reinit } = params;
  let bound: MclBound | null = null;
  let stage = 1;
  let groups: Int32Array | null = null;

  const releaseBound = (): void => {
    if (!bound) return;
    bound.frozen.forEach((net) => net.dispose());
    bound.initial?.forEach((t) => t.dispose());
    bound = null;
  };
  const stateShapes = (b: MclBound): [string, number[]][] => [
    ['stage', []],
    ['groups', [b.trainCount]],
    ...b.frozen.flatMap((net, s) => weightShapes(`stage${s + 1}`, net.allWeights)),
    ...(b.initial ?? []).map((t, i): [string, number[]] => [`initial.${i}`, t.shape]),
  ];

  /** Ends the current stage: cluster, refine the groups, freeze the network, restart it when reinit = 1. */
  const advance = async (b: MclBound, ctx: StepBoundaryContext): Promise<void> => {
    const h = await ctx.embedTrain();
    let values: Float32Array;
    try {
      if (h.shape[0] !== b.trainCount) {
        throw new Error(`mcl: embedTrain returned ${h.shape[0]} rows for ${b.trainCount} training images`);
      }
      values = Float32Array.from(await h.data());
    } finally {
      h.dispose();
    }
    const dims = values.length / b.trainCount;
    normalizeInPlace(values, b.trainCount, dims);
    if (b.trainCount < clusters) {
      throw new Error(
        `mcl: ${b.trainCount} training images cannot fill ${clusters} clusters; lower loss.params.clusters`,
      );
    }
    const seed = (b.seed + Math.imul(stage, 0x9e3779b1)) >>> 0;
    const { assignments } = kmeans(values, b.trainCount, dims, clusters, {
      seed,
      maxIterations: KMEANS_ITERATIONS,
    });
    groups = refineGroups(groups ?? new Int32Array(b.trainCount), assignments, clusters);
    const frozen = b.frozen[stage - 1];
    b.network.allWeights.forEach((w, i) => frozen.allWeights[i].write(w.read()));
    if (b.initial) {
      const initial = b.initial;
      b.network.allWeights.forEach((w, i) => w.write(initial[i]));
      ctx.resetOptimizer();
    }
    stage += 1;
  };

  return {
    id: 'mcl',
    trainableVariables: [],
    get groups() {
      return groups;
    },
    get stageLength() {
      return bound?.stageLength ?? 0;
    },
    bind(binding: MethodBinding) {
      if (bound) return;
      const { network, totalSteps, trainCount } = binding;
      if (trainCount === undefined) {
        throw new Error(
          "loss 'mcl' keeps a cluster id per training image: bind() needs trainCount (the trainer passes it)",
        );
      }
      const stageLength = stageSteps > 0 ? stageSteps : Math.max(1, Math.floor(totalSteps / stages));
      if (stages > 1 && (stages - 1) * stageLength >= totalSteps) {
        throw new Error(
          `mcl: ${stages} stages of ${stageLength} steps need more than ${(stages - 1) * stageLength} steps, ` +
            `the run has ${totalSteps}; lower loss.params.stages or loss.params.stageSteps, or train longer`,
        );
      }
      bound = {
        network,
        totalSteps,
        stageLength,
        trainCount,
        seed: binding.seed,
        frozen: Array.from({ length: stages - 1 }, () => network.clone()),
        initial: reinit === 1 ? network.allWeights.map((w) => w.read().clone()) : null,
      };
      stage = 1;
      groups = new Int32Array(trainCount);
    },
    async atStepBoundary(ctx) {
      if (!bound) throw notBoundError('mcl', 'atStepBoundary');
      const target = Math.min(stages, 1 + Math.floor(ctx.step / bound.stageLength));
      while (stage < target && ctx.step < ctx.totalSteps) await advance(bound, ctx);
    },
    stage() {
      return stage;
    },
    evalFeatures(h, images) {
      const earlier = bound ? bound.frozen.slice(0, stage - 1) : [];
      return tf.tidy(() => {
        const blocks = [...earlier.map((net) => net.forward(images, false).h), h];
        const scale = 1 / Math.sqrt(blocks.length);
        return tf.concat(
          blocks.map((block) => tf.mul(normalizeRows(block), scale)),
          1,
        ) as tf.Tensor2D;
      });
    },
    compute(inputs) {
      const { views } = inputs;
      checkViews('mcl', views, 2, 2);
      const N = views[0].shape[0];
      let batchGroups: tf.Tensor1D | null = null;
      if (stage > 1 && groups) {
        const { indices } = inputs;
        if (!indices || indices.length !== N) {
          throw new Error(
            `loss 'mcl' (stage ${stage}) draws negatives from each row's cluster: pass inputs.indices, the ` +
              `training-set index of each of the ${N} rows (got ${indices ? indices.length : 'none'})`,
          );
        }
        const all = groups;
        batchGroups = tf.tensor1d(
          Int32Array.from(indices, (index) => {
            if (!(index >= 0 && index < all.length))
              throw new Error(`mcl: batch index ${index} is outside the ${all.length} training images`);
            return all[index];
          }),
          'int32',
        );
      }
      try {
        return mclStageLoss(views, batchGroups, tau);
      } finally {
        batchGroups?.dispose();
      }
    },
    getState() {
      if (!bound) throw notBoundError('mcl', 'getState');
      return {
        stage: tf.scalar(stage, 'int32'),
        groups: tf.tensor1d(groups ?? new Int32Array(bound.trainCount), 'int32'),
        ...Object.assign({}, ...bound.frozen.map((net, s) => weightsState(`stage${s + 1}`, net.allWeights))),
        ...Object.fromEntries((bound.initial ?? []).map((t, i) => [`initial.${i}`, t.clone()])),
      };
    },
    setState(state) {
      if (!bound) throw notBoundError('mcl', 'setState');
      const b = bound;
      checkStateShapes('mcl', state, stateShapes(b));
      const savedStage = state.stage.dataSync()[0];
      if (!Number.isInteger(savedStage) || savedStage < 1 || savedStage > stages) {
        throw new Error(`loss 'mcl'.setState: stage ${savedStage} is outside 1..${stages}`);
      }
      b.frozen.forEach((net, s) => restoreWeights(`stage${s + 1}`, net.allWeights, state));
      if (b.initial) {
        b.initial.forEach((t) => t.dispose());
        b.initial = b.initial.map((_, i) => state[`initial.${i}`].clone());
      }
      groups = Int32Array.from(state.groups.dataSync());
      stage = savedStage;
    },
    dispose() {
      releaseBound();
      groups = null;
      stage = 1;
    },
  };
}
