import { LOSS_CATALOG } from '../losses/catalog';
import * as tf from '@tensorflow/tfjs';
import { Rng, tfjsSeed } from '../nn/random';
import { MASK_NEG } from '../nn/rows';
import { checkViews } from '../losses/views';
import { modelWeightsState, restoreModelWeights } from './target';
import { createNtxent } from '../losses/ntxent';
import type { MethodBinding, MethodModule } from './types';
import { batchNormalization } from '../nn/batchnorm';

export interface HydraParams extends Record<string, number> {
  beta: number;
  s0: number;
}

/** Widths of the class embedding E (= the gate network's input) and of the gate network's hidden layer. */
export interface HydraWidths {
  embedding: number;
  hidden: number;
}
/** The widths docs/losses.md specifies: E is classes x 512, f_g is 512 -> 1024 -> D. */
export const HYDRA_WIDTHS: HydraWidths = { embedding: 512, hidden: 1024 };
/** Seed for E, the gate network and the partner permutations when the module is used without bind(). */
const UNBOUND_SEED = 0;

/**
 * Gate network f_g: ReLU -> BatchNorm(512) -> Linear(512, 1024) -> ReLU -> BatchNorm(1024) -> Linear(1024, D),
 * written with tf.layers directly because its layer order (activation first) differs from buildMlpHead.
 */
function buildGateNetwork(embeddingDim: number, widths: HydraWidths, seed: number): tf.LayersModel {
  const input = tf.input({ shape: [widths.embedding], name: 'hydra_gate_in' });
  let x = tf.layers.reLU({ name: 'hydra_gate_relu0' }).apply(input) as tf.SymbolicTensor;
  x = batchNormalization({ momentum: 0.9, epsilon: 1e-5, name: 'hydra_gate_bn0' }).apply(
    x,
  ) as tf.SymbolicTensor;
  x = tf.layers
    .dense({
      units: widths.hidden,
      kernelInitializer: tf.initializers.heUniform({ seed: tfjsSeed(seed) }),
      name: 'hydra_gate_fc0',
    })
    .apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'hydra_gate_relu1' }).apply(x) as tf.SymbolicTensor;
  x = batchNormalization({ momentum: 0.9, epsilon: 1e-5, name: 'hydra_gate_bn1' }).apply(
    x,
  ) as tf.SymbolicTensor;
  x = tf.layers
    .dense({
      units: embeddingDim,
      kernelInitializer: tf.initializers.heUniform({ seed: tfjsSeed(seed + 1) }),
      name: 'hydra_gate_fc1',
    })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: x, name: 'hydra_gate' });
}

/**
 * Gated cosine logits for one direction: l_ij = scale * cos(g_i * a_i, g_i * b_j) for anchors a [N, D],
 * keys b [N, D] and the anchors' gates g [N, D]. Expanded so no [N, N, D] tensor is formed:
 *   (g_i a_i).(g_i b_j) = ((g^2 * a) b^T)_ij,  ||g_i b_j||^2 = (g^2 (b^2)^T)_ij.
 * The norms are sqrt(max(., 1e-24)) = max(||.||, 1e-12), with a finite gradient at zero rows.
 */
function gatedLogits(
  anchors: tf.Tensor2D,
  keys: tf.Tensor2D,
  gates: tf.Tensor2D,
  scale: tf.Tensor,
): tf.Tensor2D {
  const gateSquared = tf.square(gates);
  const dots = tf.matMul(tf.mul(gateSquared, anchors), keys, false, true);
  // multiply by reciprocal norms (no division by their product): with two zero rows the product is 1e-24 and a
  // division's gradient would need its square, which underflows in float32 to 0/0
  const anchorInvNorms = tf.rsqrt(
    tf.maximum(tf.sum(tf.mul(gateSquared, tf.square(anchors)), 1, true), 1e-24),
  );
  const keyInvNorms = tf.rsqrt(tf.maximum(tf.matMul(gateSquared, tf.square(keys), false, true), 1e-24));
  return tf.mul(scale, tf.mul(tf.mul(dots, anchorInvNorms), keyInvNorms)) as tf.Tensor2D;
}

/**
 * L_pair for one direction from logits [N, N], positives P and negatives N as 0/1 masks [N, N]:
 *   (1 / sum_i |P_i|) sum_i sum_{j in P_i} ( log( exp(l_ij) + sum_{k in N_i} exp(l_ik) ) - l_ij ).
 */
function pairLoss(logits: tf.Tensor2D, positives: tf.Tensor2D, negatives: tf.Tensor2D): tf.Scalar {
  const n = logits.shape[0];
  const negativeLse = tf.logSumExp(tf.add(logits, tf.mul(tf.sub(1, negatives), MASK_NEG)), 1, true); // [N, 1]
  // log(exp(l_ij) + exp(negativeLse_i)) as a two-term LSE; an empty N_i gives about -1e9, i.e. no negatives.
  const denominators = tf.logSumExp(tf.stack([logits, tf.broadcastTo(negativeLse, [n, n])], 2), 2);
  return tf.div(tf.sum(tf.mul(positives, tf.sub(denominators, logits))), tf.sum(positives)) as tf.Scalar;
}

/** The learned parts of hydra. */
interface HydraState {
  classEmbedding: tf.Variable; // E [classes, 512]
  gateNetwork: tf.LayersModel;
  logScale: tf.Variable; // log s, a scalar
  embeddingDim: number;
  numClasses: number;
  seed: number;
}

/** Test and reproducibility hooks for createHydraModule. */
export interface HydraOptions {
  /**
   * The permutation pi of the batch (partner of anchor i = instance pi[i]) to use for a batch of n; defaults
   * to a fresh seeded permutation per compute (seed from bind, or 0).
   */
  partnerPermutation?: (n: number) => number[];
  /** Widths of E and of the gate network (default HYDRA_WIDTHS, the paper's); smaller ones train faster on a CPU. */
  widths?: HydraWidths;
}

/** A hydra MethodModule plus access to its gates (for the UI) and learned scale. */
export interface HydraModule extends MethodModule {
  /**
   * Gate vectors g(classA_i, classB_i) = sigmoid(f_g((E[a] + E[b]) / 2)) as [N, D]. training = true uses batch
   * statistics in the BatchNorms (as compute does) and updates their moving averages; false uses the averages.
   */
  gatesForPairs(classA: tf.Tensor1D, classB: tf.Tensor1D, training: boolean): tf.Tensor2D;
  /** The gate vector of one class pair (inference mode), e.g. to show which dimensions the pair uses. */
  gateVector(classA: number, classB: number): Promise<number[]>;
  /** Current logit scale s = exp(learned log-scale) (null until built). */
  readonly logScale: tf.Variable | null;
  /** Number of rows of the class embedding (null until built). */
  readonly numClasses: number | null;
  bind(binding: MethodBinding): void;
  getState(): Record<string, tf.Tensor>;
  setState(state: Record<string, tf.Tensor>): void;
}

/**
 * Creates a hydra module. E [numClasses, 512] ~ N(0, 1) (512 = options.widths.embedding), the gate network
 * and log s = log(s0) are created at bind() (numClasses from the binding, D = network.embeddingDim) or, when
 * never bound, lazily at the first compute with D from the views and numClasses = max(label) + 1 of that first
 * batch (read once from the labels), so later batches must not hold larger labels: bind() with the dataset's
 * class count for real runs.
 */
export function createHydraModule(params: HydraParams, options: HydraOptions = {}): HydraModule {
  const { beta, s0 } = params;
  const widths = options.widths ?? HYDRA_WIDTHS;
  const contrastive = createNtxent({ tau: LOSS_CATALOG.ntxent.params.tau.default });
  let state: HydraState | null = null;
  let partnerDraws = 0;

  const build = (numClasses: number, embeddingDim: number, seed: number): HydraState => ({
    classEmbedding: tf.tidy(() =>
      tf.variable(tf.randomNormal([numClasses, widths.embedding], 0, 1, 'float32', tfjsSeed(seed))),
    ),
    gateNetwork: buildGateNetwork(embeddingDim, widths, seed + 1),
    logScale: tf.variable(tf.scalar(Math.log(s0))),
    embeddingDim,
    numClasses,
    seed,
  });

  const partnerPermutation = (n: number, seed: number): number[] => {
    if (options.partnerPermutation) return options.partnerPermutation(n);
    // A fresh generator per draw, so a restored draw count reproduces the same partners.
    partnerDraws += 1;
    return new Rng((seed + Math.imul(partnerDraws, 0x9e3779b1)) >>> 0).permutation(n);
  };

  const requireBuilt = (what: string): HydraState => {
    if (!state)
      throw new Error(
        `hydra.${what}: the class embedding and gates are not built yet; call bind() or compute() first`,
      );
    return state;
  };

  const module: HydraModule = {
    id: 'hydra',
    get logScale() {
      return state ? state.logScale : null;
    },
    get numClasses() {
      return state ? state.numClasses : null;
    },
    get trainableVariables() {
      if (!state) return [];
      return [
        state.classEmbedding,
        state.logScale,
        ...state.gateNetwork.trainableWeights.map((w) => w.read() as tf.Variable),
      ];
    },
    bind(binding: MethodBinding) {
      state ??= build(binding.numClasses, binding.network.embeddingDim, binding.seed);
    },
    gatesForPairs(classA, classB, training) {
      const { classEmbedding, gateNetwork } = requireBuilt('gatesForPairs');
      return tf.tidy(() => {
        const pairEmbedding = tf.div(
          tf.add(tf.gather(classEmbedding, classA), tf.gather(classEmbedding, classB)),
          2,
        );
        return tf.sigmoid(gateNetwork.apply(pairEmbedding, { training }) as tf.Tensor2D) as tf.Tensor2D;
      });
    },
    async gateVector(classA, classB) {
      const { numClasses } = requireBuilt('gateVector');
      for (const c of [classA, classB]) {
        if (!Number.isInteger(c) || c < 0 || c >= numClasses)
          throw new Error(`hydra.gateVector: class ${c} is not in 0..${numClasses - 1}`);
      }
      const gates = tf.tidy(() =>
        module.gatesForPairs(tf.tensor1d([classA], 'int32'), tf.tensor1d([classB], 'int32'), false),
      );
      const values = Array.from(await gates.data());
      gates.dispose();
      return values;
    },
    compute({ views, labels }) {
      checkViews('hydra', views, 2, 2);
      if (!labels)
        throw new Error(
          "loss 'hydra' needs class labels (inputs.labels, int32 [N]); use a labelled dataset or another loss",
        );
      const [n, embeddingDim] = views[0].shape;
      if (labels.shape[0] !== n)
        throw new Error(`hydra: labels have length ${labels.shape[0]} but the views have ${n} rows`);
      if (!state) {
        const maxLabelTensor = tf.max(labels);
        const maxLabel = maxLabelTensor.dataSync()[0];
        maxLabelTensor.dispose();
        state = build(maxLabel + 1, embeddingDim, UNBOUND_SEED);
      }
      if (state.embeddingDim !== embeddingDim) {
        throw new Error(
          `hydra: gates were built for embeddings of width ${state.embeddingDim}, the views have ${embeddingDim}`,
        );
      }
      const permutation = partnerPermutation(n, state.seed);
      const logScale = state.logScale;
      return tf.tidy(() => {
        const partnerLabels = tf.gather(labels, tf.tensor1d(permutation, 'int32'));
        const gates = module.gatesForPairs(labels, partnerLabels, true);
        const scale = tf.exp(logScale);
        // P_i = { j : y_j = y'_i },  N_i = { j : y_j not in {y_i, y'_i} }  (rows: anchors i, columns: keys j).
        const keyLabels = tf.reshape(labels, [1, n]);
        const positives = tf.cast(
          tf.equal(keyLabels, tf.reshape(partnerLabels, [n, 1])),
          'float32',
        ) as tf.Tensor2D;
        const negatives = tf.cast(
          tf.logicalAnd(
            tf.notEqual(keyLabels, tf.reshape(labels, [n, 1])),
            tf.notEqual(keyLabels, tf.reshape(partnerLabels, [n, 1])),
          ),
          'float32',
        ) as tf.Tensor2D;
        const firstToSecond = pairLoss(gatedLogits(views[0], views[1], gates, scale), positives, negatives);
        const secondToFirst = pairLoss(gatedLogits(views[1], views[0], gates, scale), positives, negatives);
        const pair = tf.div(tf.add(firstToSecond, secondToFirst), 2);
        return tf.div(tf.add(contrastive.compute({ views }), tf.mul(beta, pair)), 1 + beta) as tf.Scalar;
      });
    },
    getState() {
      const built = requireBuilt('getState');
      return {
        classEmbedding: built.classEmbedding.clone(),
        logScale: built.logScale.clone(),
        partnerDraws: tf.scalar(partnerDraws, 'int32'),
        ...modelWeightsState(built.gateNetwork),
      };
    },
    setState(saved) {
      const built = requireBuilt('setState');
      const { classEmbedding, logScale, partnerDraws: draws } = saved;
      if (!classEmbedding || !logScale || !draws) {
        throw new Error(
          "hydra.setState: expected 'classEmbedding', 'logScale' and 'partnerDraws' from getState()",
        );
      }
      if (!tf.util.arraysEqual(classEmbedding.shape, built.classEmbedding.shape)) {
        throw new Error(
          `hydra.setState: classEmbedding has shape [${classEmbedding.shape}], expected [${built.classEmbedding.shape}]`,
        );
      }
      restoreModelWeights('hydra', built.gateNetwork, saved);
      built.classEmbedding.assign(classEmbedding);
      built.logScale.assign(tf.reshape(logScale, []));
      partnerDraws = draws.dataSync()[0];
    },
    dispose() {
      if (state) {
        state.classEmbedding.dispose();
        state.logScale.dispose();
        state.gateNetwork.dispose();
      }
      state = null;
      contrastive.dispose();
    },
  };
  return module;
}

/** The gate vector of the class pair (classA, classB) of a hydra module created by createLoss('hydra'). */
export function hydraGates(module: MethodModule, classA: number, classB: number): Promise<number[]> {
  if (module.id !== 'hydra' || !('gateVector' in module)) {
    throw new Error(`hydraGates needs a module created by createLoss('hydra'), got '${module.id}'`);
  }
  return (module as HydraModule).gateVector(classA, classB);
}

/**
 * Hydra-style arbitrary-pair contrastive learning with a class-pair feature filter (needs labels):
 *
 *   g(y, y') = sigmoid( f_g( (E[y] + E[y']) / 2 ) ),  y'_i = y_pi(i) for a random permutation pi of the batch
 *   l_ij = s * cos(g_i * z1_i, g_i * z2_j),  s = exp(learned), initialised to s0 = 10 (tau = 0.1)
 *   P_i = { j : y_j = y'_i },  N_i = { j : y_j not in {y_i, y'_i} }
 *   L_pair = (1 / sum_i |P_i|) sum_i sum_{j in P_i} ( log( exp(l_ij) + sum_{k in N_i} exp(l_ik) ) - l_ij ),
 *            averaged over the two directions (view 1 anchors vs view 2 keys, and back, same g_i)
 *   L = ( ntxent(views; tau = 0.5) + beta * L_pair ) / (1 + beta)
 *
 * E is [classes x 512], f_g = ReLU -> BN(512) -> Linear(512, 1024) -> ReLU -> BN(1024) -> Linear(1024, D).
 * The gates are a product too: `hydraGates(module, a, b)` returns the dimensions a class pair uses.
 * Example: `createLoss('hydra', { beta: 1 }).compute({ views: [z1, z2], labels })`.
 */
export function createHydra(params: HydraParams): MethodModule {
  return createHydraModule(params);
}
