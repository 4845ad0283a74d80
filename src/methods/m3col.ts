import * as tf from '@tensorflow/tfjs';
import { m3coLoss, mixRows, softClipLoss } from '../losses/m3co';
import { checkViews } from '../losses/views';
import type { Network } from '../nn/types';
import { sobelEdges } from './edges';
import { betaDraws, stepRng } from './mixing';
import {
  checkStateShapes,
  notBoundError,
  requireImages,
  restoreWeights,
  weightShapes,
  weightsState,
} from './target';
import type { MethodBinding, MethodModule, MethodInputs } from './types';

export interface M3colParams extends Record<string, number> {
  tau: number;
  beta: number;
  pMix: number;
  mixupFraction: number;
  mixInput: number;
  modality: number;
  separateEncoder: number;
}

interface M3colBound {
  network: Network;
  /** The second modality's encoder when separateEncoder = 1. */
  second: Network | null;
  totalSteps: number;
  seed: number;
}

/** One modality's mixing draw: lambda_i (1 for the rows left unmixed) and the partner permutation. */
export interface MixDraw {
  lambdas: Float32Array;
  perm: Int32Array;
}

/**
 * The mixing of one modality at one step, as in the authors' code: a random permutation pairs the rows, every row
 * is mixed with probability pMix, a mixed row gets lambda ~ Beta(beta, beta), an unmixed one lambda = 1.
 */
export function drawMix(seed: number, step: number, modality: number, n: number, p: M3colParams): MixDraw {
  const rng = stepRng(seed, step, 10 + modality);
  const perm = Int32Array.from(rng.permutation(n));
  const draws = betaDraws(rng, n, p.beta, p.beta);
  const lambdas = Float32Array.from(draws, (lambda) => (rng.next() < p.pMix ? lambda : 1));
  return { lambdas, perm };
}

/** An m3col MethodModule plus what tests read. */
export interface M3colModule extends MethodModule {
  bind(binding: MethodBinding): void;
  stage(): number;
  /** The second modality's encoder (separateEncoder = 1), null otherwise or before bind(). */
  readonly secondEncoder: Network | null;
}

/**
 * M3CoL-style mixup contrastive learning (Kumar et al., TMLR 2025, arXiv 2409.17777) for images. The two
 * modalities are the two augmented views (modality = 0) or a view and the Sobel edge map of the other view
 * (modality = 1, src/methods/edges.ts), encoded by the run's network or, for the second modality, by a separate
 * copy of it (separateEncoder = 1). For the first `mixupFraction` of the run (phase 1):
 *
 *   L = M3Co(e1(mix(x1)), q2) + M3Co(e2(mix(x2)), q1)       (m3coLoss, each with its own lambda and perm)
 *
 * with mix(x) = lambda x + (1 - lambda) x[perm] of the standardised inputs (mixInput = 1, the paper's mixing of
 * non-text inputs; mixInput = 0 mixes the projections instead), q1, q2 the projections of the unmixed inputs;
 * afterwards (phase 2) L = SoftCLIP(q1, q2) + SoftCLIP(q2, q1) (softClipLoss), the authors' schedule.
 * stage() reports the phase.
 */
export function createM3col(params: M3colParams): M3colModule {
  const { tau, mixupFraction, mixInput, modality, separateEncoder } = params;
  let bound: M3colBound | null = null;
  let lastStep = 0;
  let calls = 0;

  const phaseOf = (step: number): number =>
    bound && step >= Math.round(mixupFraction * bound.totalSteps) ? 2 : 1;

  const secondInputs = (images: tf.Tensor4D): tf.Tensor4D => (modality === 1 ? sobelEdges(images) : images);

  return {
    id: 'm3col',
    get secondEncoder() {
      return bound?.second ?? null;
    },
    get trainableVariables() {
      return bound?.second ? bound.second.trainableVariables : [];
    },
    bind(binding: MethodBinding) {
      if (bound) return;
      bound = {
        network: binding.network,
        second: separateEncoder === 1 ? binding.network.clone() : null,
        totalSteps: binding.totalSteps,
        seed: binding.seed,
      };
    },
    stage() {
      return phaseOf(lastStep);
    },
    afterStep({ step }) {
      lastStep = step - 1;
    },
    compute(inputs: MethodInputs) {
      if (!bound) throw notBoundError('m3col', 'compute');
      const b = bound;
      const { views } = inputs;
      checkViews('m3col', views, 2, 2);
      const [x1, x2] = requireImages('m3col', inputs, 2);
      const step = inputs.step ?? calls;
      calls += 1;
      lastStep = step;
      const N = views[0].shape[0];
      const secondEncoder = b.second ?? b.network;
      return tf.tidy(() => {
        const input2 = secondInputs(x2);
        const q1 = views[0];
        // the trainer's view-2 projection is the second modality's only with the same encoder on the same input
        const q2 = modality === 0 && !b.second ? views[1] : secondEncoder.forward(input2, true).z;
        if (phaseOf(step) === 2) {
          return tf.add(softClipLoss(q1, q2, tau), softClipLoss(q2, q1, tau)) as tf.Scalar;
        }
        const terms = [
          { encoder: b.network, input: x1, unmixed: q1, other: q2, index: 0 },
          { encoder: secondEncoder, input: input2, unmixed: q2, other: q1, index: 1 },
        ].map(({ encoder, input, unmixed, other, index }) => {
          const draw = drawMix(b.seed, step, index, N, params);
          const lambdas = tf.tensor1d(draw.lambdas);
          const perm = tf.tensor1d(draw.perm, 'int32');
          const mixed =
            mixInput === 1
              ? encoder.forward(mixRows(input, lambdas, perm), true).z
              : mixRows(unmixed, lambdas, perm);
          return m3coLoss(mixed, other, lambdas, perm, tau);
        });
        return tf.add(terms[0], terms[1]) as tf.Scalar;
      });
    },
    getState() {
      if (!bound) throw notBoundError('m3col', 'getState');
      return bound.second ? weightsState('second', bound.second.allWeights) : {};
    },
    setState(state) {
      if (!bound) throw notBoundError('m3col', 'setState');
      if (!bound.second) return;
      checkStateShapes('m3col', state, weightShapes('second', bound.second.allWeights));
      restoreWeights('second', bound.second.allWeights, state);
    },
    dispose() {
      bound?.second?.dispose();
      bound = null;
    },
  };
}
