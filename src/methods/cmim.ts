import * as tf from '@tensorflow/tfjs';
import { buildConvDecoder, type ConvDecoder } from '../nn/decoder';
import { buildMlpHead } from '../nn/heads';
import { Rng } from '../nn/random';
import { normalizeRows } from '../nn/rows';
import type { Network } from '../nn/types';
import { checkViews } from '../losses/views';
import {
  checkEmbeddingViews,
  checkStateShapes,
  modelVariables,
  notBoundError,
  requireImages,
  restoreWeights,
  weightShapes,
  weightsState,
} from './target';
import type { MethodBinding, MethodModule } from './types';

export interface CmimParams extends Record<string, number> {
  lambda: number;
  tau: number;
  decoderWidth: number;
}

/** Bounds of the encoder's log-variance, as the MIM reference code's Hardtanh(-6, 2). */
export const LOGVAR_RANGE: [number, number] = [-6, 2];
const LOG_2PI = Math.log(2 * Math.PI);

/**
 * The A-MIM loss (Livne, Swersky & Fleet 2019, the asymmetric MIM that samples only from the encoder) of one batch,
 * with a unit-variance Gaussian decoder p(x | z) = N(x; x^(z), I) and the anchor P(z) = N(0, I):
 *
 *   z_i = mu_i + exp(logvar_i / 2) eps_i,
 *   L_MIM = -(1/N) sum_i [ log p(x_i | z_i) + 1/2 ( log q(z_i | x_i) + log P(z_i) ) ],
 *   log p(x | z) = -1/2 ||x - x^||^2 - (P/2) log 2 pi           (P = H W C pixel values),
 *   log q(z | x) = sum_d [ -1/2 log 2 pi - logvar_d / 2 - eps_d^2 / 2 ],
 *   log P(z)     = sum_d [ -1/2 log 2 pi - z_d^2 / 2 ].
 *
 * x, xhat [N, H, W, C]; mu, logvar, eps [N, D]; `z` is mu + exp(logvar / 2) eps, the latent xhat was decoded from.
 */
export function amimLoss(
  x: tf.Tensor4D,
  xhat: tf.Tensor4D,
  z: tf.Tensor2D,
  logvar: tf.Tensor2D,
  eps: tf.Tensor2D,
): tf.Scalar {
  return tf.tidy(() => {
    const pixels = x.shape[1] * x.shape[2] * x.shape[3];
    const D = z.shape[1];
    const logPx = tf.sub(tf.mul(-0.5, tf.sum(tf.square(tf.sub(x, xhat)), [1, 2, 3])), 0.5 * pixels * LOG_2PI);
    const logQ = tf.sub(tf.mul(-0.5, tf.sum(tf.add(logvar, tf.square(eps)), 1)), 0.5 * D * LOG_2PI);
    const logP = tf.sub(tf.mul(-0.5, tf.sum(tf.square(z), 1)), 0.5 * D * LOG_2PI);
    return tf.neg(tf.mean(tf.add(logPx, tf.mul(0.5, tf.add(logQ, logP))))) as tf.Scalar;
  });
}

/**
 * The contrastive term: InfoNCE between a posterior sample and the posterior means of the batch,
 *   L_con = -(1/N) sum_i log [ exp(cos(z_i, mu_i) / tau) / sum_j exp(cos(z_i, mu_j) / tau) ],
 * so the positive of z_i ~ q(z | x_i) is the mean of its own x_i (no second augmented view) and the negatives
 * are the means of the other inputs. z, mu [N, D].
 */
export function posteriorContrastive(z: tf.Tensor2D, mu: tf.Tensor2D, tau: number): tf.Scalar {
  return tf.tidy(() => {
    const logits = tf.div(tf.matMul(normalizeRows(z), normalizeRows(mu), false, true), tau);
    const positives = tf.sum(tf.mul(logits, tf.eye(z.shape[0])), 1);
    return tf.mean(tf.sub(tf.logSumExp(logits, 1), positives)) as tf.Scalar;
  });
}

/** What bind() creates. */
interface CmimState {
  online: Network;
  logvarHead: tf.LayersModel;
  decoder: ConvDecoder;
  seed: number;
}

export interface CmimOptions {
  /** The noise eps [n, d] of each compute (tests); by default N(0, 1) draws from the bound seed and a draw count. */
  noise?: (n: number, d: number) => tf.Tensor2D;
}

/** The cmim module, with its own networks readable after bind() (tests, diagnostics). */
export type CmimModule = MethodModule & {
  readonly parts: { logvarHead: tf.LayersModel; decoder: ConvDecoder } | null;
};

export function createCmim(params: CmimParams, options: CmimOptions = {}): CmimModule {
  const { lambda, tau, decoderWidth } = params;
  let bound: CmimState | null = null;
  // noise draws so far: the next compute's eps comes from its own generator, so a restored count gives the same eps
  let draws = 0;

  const release = (): void => {
    if (bound) {
      bound.logvarHead.dispose();
      bound.decoder.model.dispose();
    }
    bound = null;
  };
  const parts = (state: CmimState): [string, tf.LayerVariable[]][] => [
    ['logvar', state.logvarHead.weights],
    ['decoder', state.decoder.model.weights],
  ];
  const requireBound = (what: string): CmimState => {
    if (!bound) throw notBoundError('cmim', what);
    return bound;
  };
  const noise = (seed: number, n: number, d: number): tf.Tensor2D => {
    draws += 1;
    if (options.noise) return options.noise(n, d);
    const rng = new Rng((seed + Math.imul(draws, 0x9e3779b1)) >>> 0);
    return tf.tensor2d(
      Float32Array.from({ length: n * d }, () => rng.normal()),
      [n, d],
    );
  };

  return {
    id: 'cmim',
    get parts() {
      return bound ? { logvarHead: bound.logvarHead, decoder: bound.decoder } : null;
    },
    get trainableVariables() {
      return bound ? [...modelVariables(bound.logvarHead), ...modelVariables(bound.decoder.model)] : [];
    },
    bind(binding: MethodBinding) {
      release();
      const { network, imageShape } = binding;
      if (!imageShape) {
        throw new Error(
          "loss 'cmim' reconstructs the images: bind({ ..., imageShape: [H, W, C] }) with the dataset's image shape",
        );
      }
      const rng = new Rng(binding.seed);
      const logvarHead = buildMlpHead(
        network.featureDim,
        { layers: 1, hidden: network.featureDim, out: network.embeddingDim, batchNorm: false },
        rng.fork(),
        'cmim_logvar',
      );
      const decoder = buildConvDecoder({
        latentDim: network.embeddingDim,
        imageShape,
        width: decoderWidth,
        seed: rng.fork(),
        name: 'cmim_decoder',
      });
      bound = { online: network, logvarHead, decoder, seed: rng.fork() };
      draws = 0;
    },
    compute(inputs) {
      checkViews('cmim', inputs.views, 1, 1);
      const state = requireBound('compute');
      const N = checkEmbeddingViews('cmim', inputs.views, state.online.embeddingDim);
      const [x] = requireImages('cmim', inputs, 1);
      const features = inputs.features?.[0];
      if (!features || features.shape[0] !== N || features.shape[1] !== state.online.featureDim) {
        throw new Error(
          `loss 'cmim' predicts the posterior variance from the backbone output: pass inputs.features ([${N}, ` +
            `${state.online.featureDim}], the h the view came from), got ${features ? `[${features.shape}]` : 'none'}`,
        );
      }
      const expected = state.decoder.imageShape.join();
      if (x.shape.slice(1).join() !== expected) {
        throw new Error(
          `loss 'cmim': the images are [${x.shape.slice(1)}] but the decoder was bound for [${expected}]; bind it with the dataset's imageShape`,
        );
      }
      const eps = noise(state.seed, N, state.online.embeddingDim);
      try {
        return tf.tidy(() => {
          const mu = inputs.views[0];
          const raw = state.logvarHead.apply(features, { training: true }) as tf.Tensor2D;
          const logvar = tf.clipByValue(raw, LOGVAR_RANGE[0], LOGVAR_RANGE[1]) as tf.Tensor2D;
          const z = tf.add(mu, tf.mul(tf.exp(tf.mul(logvar, 0.5)), eps)) as tf.Tensor2D;
          const [xhat] = state.decoder.model.apply(z, { training: true }) as tf.Tensor[];
          const mim = amimLoss(x, xhat as tf.Tensor4D, z, logvar, eps);
          return lambda > 0
            ? (tf.add(mim, tf.mul(lambda, posteriorContrastive(z, mu, tau))) as tf.Scalar)
            : mim;
        });
      } finally {
        eps.dispose();
      }
    },
    representation(_images, embedded) {
      const state = requireBound('representation');
      return tf.tidy(() => {
        const [, informative] = state.decoder.model.apply(embedded.z, { training: false }) as tf.Tensor[];
        return informative as tf.Tensor2D;
      });
    },
    getState() {
      const state = requireBound('getState');
      return {
        ...Object.assign({}, ...parts(state).map(([prefix, weights]) => weightsState(prefix, weights))),
        draws: tf.scalar(draws, 'int32'),
      };
    },
    setState(saved) {
      const state = requireBound('setState');
      checkStateShapes('cmim', saved, [
        ...parts(state).flatMap(([prefix, weights]) => weightShapes(prefix, weights)),
        ['draws', []],
      ]);
      for (const [prefix, weights] of parts(state)) restoreWeights(prefix, weights, saved);
      draws = saved.draws.dataSync()[0];
    },
    dispose() {
      release();
    },
  };
}

/**
 * cMIM, the contrastive Mutual Information Machine (Livne, "cMIM: A Contrastive Mutual Information Framework for
 * Unified Generative and Discriminative Representation Learning", 2025, arXiv 2502.19642; MIM: Livne, Swersky &
 * Fleet 2019, arXiv 1910.03175). An encoder-decoder trained on clean images (no positive-pair augmentation: the
 * trainer feeds one unaugmented view): the projector output is the posterior mean mu, a linear head on h gives its
 * log-variance (clipped to [-6, 2]), z = mu + sigma eps, a small convolutional decoder (nn/decoder.ts)
 * reconstructs the standardised image from z, and
 *   L = L_MIM (amimLoss) + lambda L_con (posteriorContrastive, temperature tau).
 * Informative embeddings (representation()): the decoder's hidden states when decoding mu, each globally average
 * pooled, concatenated. Needs bind() with imageShape, inputs.images and inputs.features. docs/losses.md.
 */
