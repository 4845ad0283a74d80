import * as tf from '@tensorflow/tfjs';
import { buildMlpHead, type MlpHeadSpec } from '../nn/heads';
import type { Network } from '../nn/types';
import { MASK_NEG, identityMask, normalizeRows } from '../nn/rows';
import { checkViews } from '../losses/views';
import { modelWeightsState, restoreModelWeights } from './target';
import type { MethodBinding, MethodModule } from './types';

export interface AmclParams extends Record<string, number> {
  heads: number;
  beta: number;
  tauMin: number;
  tauMax: number;
}

/** Seed used for the heads and phi when the module is used without bind() (tests, ad-hoc use). */
const UNBOUND_SEED = 0;
/** Projector shape of each head when no network was bound to copy it from. */
export const AMCL_DEFAULT_HEAD: Omit<MlpHeadSpec, 'out'> = { layers: 2, hidden: 512, batchNorm: true };
/** Hidden width of the temperature MLP phi (D -> 128 -> D), as in the paper. */
const PHI_HIDDEN = 128;

/** The shape of the bound network's projector (number of Linear layers, hidden width, BatchNorm), for amcl's heads. */
function projectorShape(network: Network): Omit<MlpHeadSpec, 'out'> {
  const dense = network.projector.layers.filter((layer) => layer.getClassName() === 'Dense');
  if (dense.length === 0) return AMCL_DEFAULT_HEAD;
  return {
    layers: dense.length,
    hidden: dense.length > 1 ? (dense[0].getConfig().units as number) : AMCL_DEFAULT_HEAD.hidden,
    batchNorm: network.projector.layers.some((layer) => layer.getClassName() === 'BatchNormalization'),
  };
}

/** The learned parts of amcl: C projection heads F -> D and the shared temperature MLP phi: D -> D. */
interface AmclNetworks {
  heads: tf.LayersModel[];
  phi: tf.LayersModel;
  featureDim: number;
  embeddingDim: number;
}

/** An amcl MethodModule plus access to its learned parts (for the UI and tests). */
export interface AmclModule extends MethodModule {
  /** The C projection heads (null until bind() or the first compute builds them). */
  readonly heads: readonly tf.LayersModel[] | null;
  /** The shared temperature MLP phi (null until built). */
  readonly temperatureNet: tf.LayersModel | null;
  bind(binding: MethodBinding): void;
  getState(): Record<string, tf.Tensor>;
  setState(state: Record<string, tf.Tensor>): void;
}

/**
 * One direction of amcl for one head: anchors a [N, D] and keys b [N, D] (both unit rows), with
 * temperatures tau [N, N] for the pairs (a_i, b_j). Returns mean_i l_i with
 *   l_i = -cos(a_i, b_i)/tau_ii + cos(a_i, b_n*)/tau_in* + beta * (Omega(tau_ii) - Omega(tau_in*)),
 *   n* = argmax_{n != i} cos(a_i, b_n).
 */
function direction(cosines: tf.Tensor2D, tau: tf.Tensor2D, beta: number, embeddingDim: number): tf.Scalar {
  const n = cosines.shape[0];
  const eye = identityMask(n);
  // The argmax only selects which negative is used; it is not differentiated (a constant one-hot).
  const hardest = tf.cast(tf.oneHot(tf.argMax(tf.add(cosines, tf.mul(eye, MASK_NEG)), 1), n), 'float32');
  const pick = (m: tf.Tensor2D, selector: tf.Tensor): tf.Tensor1D =>
    tf.sum(tf.mul(m, selector), 1) as tf.Tensor1D;
  const cosPos = pick(cosines, eye);
  const tauPos = pick(tau, eye);
  const cosNeg = pick(cosines, hardest);
  const tauNeg = pick(tau, hardest);
  const omega = (t: tf.Tensor): tf.Tensor => tf.add(tf.mul(embeddingDim / 2, tf.log(t)), tf.reciprocal(t));
  const perAnchor = tf.add(
    tf.sub(tf.div(cosNeg, tauNeg), tf.div(cosPos, tauPos)),
    tf.mul(beta, tf.sub(omega(tauPos), omega(tauNeg))),
  );
  return tf.mean(perAnchor) as tf.Scalar;
}

/**
 * Creates an amcl module. The heads and phi are built at bind() (F = network.featureDim, D = network.embeddingDim,
 * heads shaped like network.projector) or, when never bound, lazily at the first compute (F and D from the
 * shapes of features and views, heads shaped like AMCL_DEFAULT_HEAD: 2 layers, hidden 512, BatchNorm).
 */
export function createAmclModule(params: AmclParams): AmclModule {
  const { heads: headCount, beta, tauMin, tauMax } = params;
  if (!(tauMin <= tauMax)) {
    throw new Error(
      `amcl: tauMin (${tauMin}) must not exceed tauMax (${tauMax}); swap them or widen the range`,
    );
  }
  let nets: AmclNetworks | null = null;

  const build = (
    featureDim: number,
    embeddingDim: number,
    shape: Omit<MlpHeadSpec, 'out'>,
    seed: number,
  ): AmclNetworks => {
    const spec: MlpHeadSpec = { ...shape, out: embeddingDim };
    const heads = Array.from({ length: headCount }, (_, c) =>
      buildMlpHead(featureDim, spec, seed + 101 * (c + 1), `amcl_head${c}`),
    );
    const phi = buildMlpHead(
      embeddingDim,
      { layers: 2, hidden: PHI_HIDDEN, out: embeddingDim, batchNorm: false },
      seed,
      'amcl_phi',
    );
    return { heads, phi, featureDim, embeddingDim };
  };
  const allModels = (n: AmclNetworks): tf.LayersModel[] => [...n.heads, n.phi];

  return {
    id: 'amcl',
    get heads() {
      return nets ? nets.heads : null;
    },
    get temperatureNet() {
      return nets ? nets.phi : null;
    },
    get trainableVariables() {
      if (!nets) return [];
      return allModels(nets).flatMap((m) => m.trainableWeights.map((w) => w.read() as tf.Variable));
    },
    bind(binding: MethodBinding) {
      if (nets) return;
      nets = build(
        binding.network.featureDim,
        binding.network.embeddingDim,
        projectorShape(binding.network),
        binding.seed,
      );
    },
    compute({ views, features }) {
      checkViews('amcl', views, 2, 2);
      if (!features || features.length !== 2) {
        throw new Error(
          `loss 'amcl' needs inputs.features: the backbone outputs h of both views (2 x [N, F]), got ${features ? features.length : 'none'}; its heads project h themselves`,
        );
      }
      const [n, embeddingDim] = views[0].shape;
      const featureDim = features[0].shape[1];
      if (n < 2)
        throw new Error(
          `loss 'amcl' needs a batch of at least 2 instances (each anchor needs a negative), got ${n}`,
        );
      if (features[0].shape[0] !== n || features[1].shape[0] !== n) {
        throw new Error(
          `amcl: features have [${features[0].shape}] and [${features[1].shape}] rows but the views have ${n}`,
        );
      }
      nets ??= build(featureDim, embeddingDim, AMCL_DEFAULT_HEAD, UNBOUND_SEED);
      if (nets.featureDim !== featureDim || nets.embeddingDim !== embeddingDim) {
        throw new Error(
          `amcl: heads were built for features of width ${nets.featureDim} and embeddings of width ${nets.embeddingDim}, got ${featureDim} and ${embeddingDim}`,
        );
      }
      const { heads, phi } = nets;
      return tf.tidy(() => {
        const perHead = heads.map((head) => {
          const first = normalizeRows(head.apply(features[0], { training: true }) as tf.Tensor2D);
          const second = normalizeRows(head.apply(features[1], { training: true }) as tf.Tensor2D);
          const cosines = tf.matMul(first, second, false, true) as tf.Tensor2D;
          // tau(a, b) = tauMin + (tauMax - tauMin) sigmoid(-phi(a).phi(b)), phi on the unit embeddings (authors' code).
          const phiDots = tf.matMul(
            phi.apply(first) as tf.Tensor2D,
            phi.apply(second) as tf.Tensor2D,
            false,
            true,
          );
          const tau = tf.add(tauMin, tf.mul(tauMax - tauMin, tf.sigmoid(tf.neg(phiDots)))) as tf.Tensor2D;
          // Second direction: anchors of view 2 against keys of view 1; phi.phi is symmetric, so tau^T.
          const firstToSecond = direction(cosines, tau, beta, embeddingDim);
          const secondToFirst = direction(
            tf.transpose(cosines) as tf.Tensor2D,
            tf.transpose(tau) as tf.Tensor2D,
            beta,
            embeddingDim,
          );
          return tf.div(tf.add(firstToSecond, secondToFirst), 2);
        });
        return tf.addN(perHead) as tf.Scalar;
      });
    },
    getState() {
      if (!nets) throw new Error('amcl.getState: nothing to save yet; call bind() or compute() first');
      return Object.assign({}, ...allModels(nets).map(modelWeightsState)) as Record<string, tf.Tensor>;
    },
    setState(state) {
      if (!nets)
        throw new Error('amcl.setState: the heads are not built; call bind() with the network first');
      for (const model of allModels(nets)) restoreModelWeights('amcl', model, state);
    },
    dispose() {
      if (nets) allModels(nets).forEach((m) => m.dispose());
      nets = null;
    },
  };
}

/**
 * AMCL, Adaptive Multi-head Contrastive Learning (Wang, Koniusz, Gedeon & Zheng 2023, arXiv 2310.05615),
 * the SimCLR form of Table 2 / Eq. 2.1 with the hardest negative:
 *
 *   z^c = head_c(h) for C independent projector heads applied to the backbone features h (inputs.features)
 *   tau(a, b) = tauMin + (tauMax - tauMin) * sigmoid( -phi(a) . phi(b) ),  phi: D -> 128 -> D (ReLU), shared
 *   Omega(tau) = (D / 2) log(tau) + 1 / tau
 *   l_i = sum_c [ -cos(z1_i, z2_i)/tau_pos + cos(z1_i, z2_n*)/tau_neg + beta Omega(tau_pos) - beta Omega(tau_neg) ],
 *   n* = argmax_{n != i} cos(z1_i, z2_n) (selection not differentiated), L = mean over anchors and both directions.
 *
 * phi sees the unit-normalised head outputs (as in the authors' code). The views only fix D: the loss value
 * depends on the features through amcl's own heads, so the network's main projector gets no gradient from it.
 * tauMin = tauMax is allowed (a fixed temperature, the paper's ablation); tauMin > tauMax is rejected.
 * Example: `createLoss('amcl', { heads: 3 }).compute({ views: [z1, z2], features: [h1, h2] })`.
 */
