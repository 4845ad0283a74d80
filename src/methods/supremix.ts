import * as tf from '@tensorflow/tfjs';
import { supremixLoss } from '../losses/supremix';
import { checkViews } from '../losses/views';
import { betaDraws, stepRng } from './mixing';
import type { MethodBinding, MethodModule } from './types';

export interface SupremixParams extends Record<string, number> {
  tau: number;
  window: number;
  lambda: number;
  alphaA: number;
  alphaB: number;
  mixNeg: number;
  mixPos: number;
}

/** The seed used when the module computes without bind() (tests, ad-hoc use). */
const UNBOUND_SEED = 0;

/**
 * SupReMix (Wu et al., "Mixup Your Own Pairs", arXiv 2309.16633) as a method: the loss is supremixLoss
 * (src/losses/supremix.ts); this module draws each step's mixing coefficients a_ik ~ Beta(alphaA, alphaB), one per
 * (anchor, negative) row pair, from the bound seed and inputs.step, and reads the regression targets
 * (inputs.targets, dataset.target) of the batch. Example: `createLoss('supremix').compute({ views, targets, step })`.
 */
export function createSupremix(params: SupremixParams): MethodModule {
  const { tau, window, lambda, alphaA, alphaB, mixNeg, mixPos } = params;
  let seed = UNBOUND_SEED;
  let calls = 0;
  return {
    id: 'supremix',
    trainableVariables: [],
    bind(binding: MethodBinding) {
      seed = binding.seed;
    },
    compute(inputs) {
      const { views, targets } = inputs;
      checkViews('supremix', views, 2, 2);
      if (!targets) {
        throw new Error(
          "loss 'supremix' regresses a continuous target: pass inputs.targets (float32 [N]); in a run config set " +
            "dataset.target to 'rotation' (or 'size' on the synthetic dataset)",
        );
      }
      const rows = 2 * views[0].shape[0];
      const step = inputs.step ?? calls;
      calls += 1;
      const alpha = mixNeg === 1 ? betaDraws(stepRng(seed, step, 0), rows * rows, alphaA, alphaB) : null;
      const negAlpha = alpha ? tf.tensor2d(alpha, [rows, rows]) : tf.zeros([rows, rows]);
      try {
        return supremixLoss(views, targets, negAlpha as tf.Tensor2D, {
          tau,
          window,
          lambda,
          mixNeg: mixNeg === 1,
          mixPos: mixPos === 1,
        });
      } finally {
        negAlpha.dispose();
      }
    },
    dispose() {},
  };
}
