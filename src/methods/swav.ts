import * as tf from '@tensorflow/tfjs';
import { tfjsSeed } from '../nn/random';
import { normalizeRows, stopGradient } from '../nn/rows';
import { checkViews, viewShape } from '../losses/views';
import type { MethodBinding, MethodModule, StepInfo } from './types';

export interface SwavParams extends Record<string, number> {
  K: number;
  eps: number;
  iters: number;
  tau: number;
}

/** Seed for the prototypes when the module is used without bind() (tests, ad-hoc use). */
const UNBOUND_SEED = 0;

/**
 * SwAV's Sinkhorn-Knopp codes for one view (Caron et al. 2020, Algorithm 1), on [B, K] scores:
 *   Q = exp(scores / eps); repeat `iterations` times: make each prototype's column sum 1/K, then each
 *   sample's row sum 1/B; finally Q *= B so every sample's code sums to 1.
 * The scores are shifted by their maximum before exp (the normalisations cancel any global factor), so
 * exp never overflows float32. Not differentiable by design: pass detached scores.
 */
export function sinkhornCodes(scores: tf.Tensor2D, eps: number, iterations: number): tf.Tensor2D {
  return tf.tidy(() => {
    const [batch, prototypes] = scores.shape;
    let q: tf.Tensor = tf.exp(tf.div(tf.sub(scores, tf.max(scores)), eps));
    for (let it = 0; it < iterations; it++) {
      q = tf.div(q, tf.mul(tf.sum(q, 0, true), prototypes));
      q = tf.div(q, tf.mul(tf.sum(q, 1, true), batch));
    }
    return tf.mul(q, batch) as tf.Tensor2D;
  });
}

/** A swav MethodModule plus read access to its prototypes and freeze state (for the UI and tests). */
export interface SwavModule extends MethodModule {
  /** The K x D prototype matrix (null until bind() or the first compute creates it). */
  readonly prototypes: tf.Variable | null;
  /** true while the prototypes are frozen (optimizer steps completed < steps per epoch). */
  readonly frozen: boolean;
  bind(binding: MethodBinding): void;
  afterStep(info: StepInfo): void;
  getState(): Record<string, tf.Tensor>;
  setState(state: Record<string, tf.Tensor>): void;
}

/**
 * Creates a swav module. The prototypes [K, D] are created at bind() (D = network.embeddingDim) or, when never
 * bound, lazily at the first compute (D from the views); initialised N(0, 1) from the seed, rows normalised.
 * Freezing uses bind's stepsPerEpoch; an unbound module never freezes (it has no notion of an epoch).
 */
export function createSwavModule(params: SwavParams): SwavModule {
  const { K, eps, iters, tau } = params;
  let prototypes: tf.Variable | null = null;
  let stepsPerEpoch = 0;
  let stepsDone = 0;
  // Value of the prototypes while frozen: the optimizer may still move them (weight decay, LARS), so
  // afterStep writes this back after every frozen step.
  let frozenValue: tf.Tensor | null = null;

  const isFrozen = (): boolean => stepsDone < stepsPerEpoch;
  const create = (dim: number, seed: number): tf.Variable =>
    tf.tidy(() => tf.variable(normalizeRows(tf.randomNormal([K, dim], 0, 1, 'float32', tfjsSeed(seed)))));
  const releaseFrozenValue = (): void => {
    frozenValue?.dispose();
    frozenValue = null;
  };

  return {
    id: 'swav',
    get prototypes() {
      return prototypes;
    },
    get frozen() {
      return isFrozen();
    },
    get trainableVariables() {
      return prototypes ? [prototypes] : [];
    },
    bind(binding: MethodBinding) {
      stepsPerEpoch = binding.stepsPerEpoch;
      prototypes ??= create(binding.network.embeddingDim, binding.seed);
    },
    compute({ views }) {
      checkViews('swav', views, 2, Infinity);
      const { V, D } = viewShape('swav', views);
      prototypes ??= create(D, UNBOUND_SEED);
      if (prototypes.shape[1] !== D) {
        throw new Error(
          `swav: prototypes have dimension ${prototypes.shape[1]} but the views have ${D}; bind() with the network that produces the views`,
        );
      }
      const protos = prototypes;
      // tf.keep: compute usually runs inside the optimizer's gradient scope, which would dispose the snapshot.
      if (isFrozen() && !frozenValue) frozenValue = tf.keep(normalizeRows(protos as tf.Tensor2D));
      return tf.tidy(() => {
        // Renormalise the stored prototypes first, so no gradient flows through the renormalisation.
        protos.assign(normalizeRows(protos as tf.Tensor2D));
        const usedPrototypes = isFrozen() ? stopGradient(protos) : protos;
        const scores = views.map(
          (z) => tf.matMul(normalizeRows(z), usedPrototypes, false, true) as tf.Tensor2D,
        );
        const codes = scores.map((s) => sinkhornCodes(stopGradient(s), eps, iters));
        const logProbs = scores.map((s) => tf.logSoftmax(tf.div(s, tau)));
        const terms: tf.Tensor[] = [];
        for (let s = 0; s < V; s++) {
          for (let t = 0; t < V; t++) {
            if (s !== t) terms.push(tf.neg(tf.mean(tf.sum(tf.mul(codes[s], logProbs[t]), 1))));
          }
        }
        return tf.div(tf.addN(terms), terms.length) as tf.Scalar;
      });
    },
    afterStep({ step }) {
      // The step that just finished ran frozen when fewer than stepsPerEpoch steps had been done before it.
      if (prototypes && frozenValue && step - 1 < stepsPerEpoch) prototypes.assign(frozenValue);
      stepsDone = step;
      if (!isFrozen()) releaseFrozenValue();
    },
    getState() {
      if (!prototypes) throw new Error('swav.getState: nothing to save yet; call bind() or compute() first');
      return { prototypes: prototypes.clone(), stepsDone: tf.scalar(stepsDone, 'int32') };
    },
    setState(state) {
      const { prototypes: saved, stepsDone: savedSteps } = state;
      if (!saved || !savedSteps)
        throw new Error("swav.setState: expected the keys 'prototypes' and 'stepsDone' from getState()");
      if (saved.rank !== 2 || saved.shape[0] !== K) {
        throw new Error(
          `swav.setState: prototypes have shape [${saved.shape}], expected [${K}, D] (K = ${K})`,
        );
      }
      if (prototypes && prototypes.shape[1] !== saved.shape[1]) {
        throw new Error(
          `swav.setState: prototypes have dimension ${saved.shape[1]}, this module uses ${prototypes.shape[1]}`,
        );
      }
      if (prototypes) prototypes.assign(saved);
      else prototypes = tf.variable(saved.clone());
      stepsDone = savedSteps.dataSync()[0];
      releaseFrozenValue();
    },
    dispose() {
      prototypes?.dispose();
      prototypes = null;
      releaseFrozenValue();
    },
  };
}

/**
 * SwAV, swapped assignments between views (Caron et al. 2020, "Unsupervised Learning of Visual Features
 * by Contrasting Cluster Assignments"):
 *
 *   scores_v = norm(z_v) C^T with C's K rows renormalised to unit length before every step (no gradient
 *   through the renormalisation); q_v = Sinkhorn(exp(sg(scores_v) / eps)), 3 iterations, rows sum to 1;
 *   L = mean over ordered view pairs (s, t), s != t, of  -mean_b sum_k q_s[b, k] log softmax(scores_t[b] / tau)_k
 *
 * Codes are computed for every view (no separate crops_for_assign). The prototypes are frozen for the first
 * epoch (bind's stepsPerEpoch): zero gradient, and any optimizer-side change (weight decay) undone in afterStep.
 * Example: `createLoss('swav', { K: 100 }).compute({ views: [z1, z2] })`.
 */
