import * as tf from '@tensorflow/tfjs';
import { identityMask, MASK_NEG, normalizeRows, stopGradient } from '../nn/rows';
import { checkViews, viewShape } from './views';

export interface SupremixOptions {
  tau: number;
  /** Mix positives need a lower and a higher target within this distance of the anchor's (0 = none). */
  window: number;
  /** Distance magnifying: a negative's weight is 1 + lambda |y_anchor - y_negative|. */
  lambda: number;
  /** Whether anchor-inclusive mixtures join the negatives. */
  mixNeg: boolean;
  /** Whether anchor-exclusive mixtures join the positives. */
  mixPos: boolean;
}

/** ||a m + (1 - a) k|| of two unit vectors with cosine c, from stopped values (the mixtures are constants). */
function mixtureNorm(alpha: tf.Tensor, cosine: tf.Tensor): tf.Tensor {
  return tf.sqrt(
    tf.maximum(
      tf.add(
        tf.add(tf.square(alpha), tf.square(tf.sub(1, alpha))),
        tf.mul(tf.mul(tf.mul(2, alpha), tf.sub(1, alpha)), cosine),
      ),
      1e-24,
    ),
  );
}

/**
 * SupReMix, supervised contrastive regression with mixup pairs (Wu, Dong, Chen, Zhou & Zhou, "Mixup Your Own
 * Pairs", arXiv 2309.16633). Z stacks the 2N unit rows of two views, row r has target y_r (y of instance r mod N),
 * s_rj = Z_r . Z_j. For anchor i:
 *
 *   positives  P_i   = { j != i : y_j = y_i }                       (at least the other view)
 *   negatives  N_i   = { k : y_k != y_i },  weight w_ik = 1 + lambda |y_i - y_k|     (distance magnifying)
 *   mix-neg    m_ik  = norm(a_ik Z_i + (1 - a_ik) Z_k), k in N_i, a_ik ~ Beta(alphaA, alphaB) (negAlpha),
 *                      label a_ik y_i + (1 - a_ik) y_k, weight 1 + lambda (1 - a_ik) |y_i - y_k|
 *   mix-pos    m+_i  = norm(b_i Z_j + (1 - b_i) Z_k), j = the row with the largest y_j < y_i and k the row with
 *                      the smallest y_k > y_i (first index on ties), both within `window` of y_i, and
 *                      b_i = (y_k - y_i) / (y_k - y_j) so the mixture's label is y_i
 *   D_i = sum_{p in P_i} e^{s_ip/tau} + [e^{Z_i.m+_i/tau}] + sum_{k in N_i} w_ik e^{s_ik/tau}
 *         + sum_{k in N_i} w~_ik e^{Z_i.m_ik/tau}
 *   l_i = -(1/|P+_i|) ( sum_{p in P_i} s_ip/tau + [Z_i.m+_i/tau] ) + log D_i,   P+_i = P_i plus m+_i if it exists
 *   L = mean_i l_i.
 *
 * The mixtures are constants (stop-gradient), as in the authors' code: their terms pull and push the anchor only.
 * `negAlpha` [2N, 2N] holds a_ik (read where y_k != y_i); `targets` is float32 [N].
 */
export function supremixLoss(
  views: tf.Tensor2D[],
  targets: tf.Tensor1D,
  negAlpha: tf.Tensor2D,
  options: SupremixOptions,
): tf.Scalar {
  checkViews('supremix', views, 2, 2);
  const { N } = viewShape('supremix', views);
  if (targets.rank !== 1 || targets.shape[0] !== N) {
    throw new Error(
      `loss 'supremix': targets must have shape [${N}] (one per instance), got [${targets.shape.join(', ')}]`,
    );
  }
  if (negAlpha.shape[0] !== 2 * N || negAlpha.shape[1] !== 2 * N) {
    throw new Error(`loss 'supremix': negAlpha must be [${2 * N}, ${2 * N}], got [${negAlpha.shape}]`);
  }
  const { tau, window, lambda, mixNeg, mixPos } = options;
  return tf.tidy(() => {
    const R = 2 * N;
    const z = tf.concat(views.map(normalizeRows), 0) as tf.Tensor2D;
    const fixed = stopGradient(z);
    const cosines = tf.matMul(z, z, false, true); // s_rj, differentiated on both sides
    const towardFixed = tf.matMul(z, fixed, false, true); // Z_r . sg(Z_j): the anchor side only
    const fixedCosines = stopGradient(cosines);
    const y = tf.concat([targets, targets]);
    const yi = tf.expandDims(y, 1);
    const yj = tf.expandDims(y, 0);
    const self = identityMask(R);
    const same = tf.cast(tf.equal(yi, yj), 'float32');
    const positives = tf.sub(same, self);
    const negatives = tf.sub(1, same);
    const distance = tf.abs(tf.sub(yi, yj));
    const logits = tf.div(cosines, tau);

    // every term of the denominator as a log-weight + logit, masked where absent
    const denominatorParts: tf.Tensor2D[] = [
      tf.add(logits, tf.mul(tf.sub(1, positives), MASK_NEG)) as tf.Tensor2D,
      tf.add(
        tf.add(logits, tf.log(tf.add(1, tf.mul(lambda, distance)))),
        tf.mul(tf.sub(1, negatives), MASK_NEG),
      ) as tf.Tensor2D,
    ];
    let numerator = tf.sum(tf.mul(logits, positives), 1);
    let positiveCount = tf.sum(positives, 1);

    if (mixNeg) {
      const alpha = negAlpha;
      const ownTerm = tf.expandDims(tf.sum(tf.mul(towardFixed, self), 1), 1); // Z_i . sg(Z_i)
      const mixCosine = tf.div(
        tf.add(tf.mul(alpha, ownTerm), tf.mul(tf.sub(1, alpha), towardFixed)),
        mixtureNorm(alpha, fixedCosines),
      );
      const mixWeight = tf.add(1, tf.mul(lambda, tf.mul(tf.sub(1, alpha), distance)));
      denominatorParts.push(
        tf.add(
          tf.add(tf.div(mixCosine, tau), tf.log(mixWeight)),
          tf.mul(tf.sub(1, negatives), MASK_NEG),
        ) as tf.Tensor2D,
      );
    }

    if (mixPos && window > 0) {
      const below = tf.mul(
        tf.cast(tf.less(yj, yi), 'float32'),
        tf.cast(tf.less(tf.sub(yi, yj), window), 'float32'),
      );
      const above = tf.mul(
        tf.cast(tf.greater(yj, yi), 'float32'),
        tf.cast(tf.less(tf.sub(yj, yi), window), 'float32'),
      );
      const broadcastY = tf.broadcastTo(yj, [R, R]);
      const lowerPick = tf.oneHot(tf.argMax(tf.add(broadcastY, tf.mul(tf.sub(1, below), MASK_NEG)), 1), R);
      const upperPick = tf.oneHot(
        tf.argMax(tf.add(tf.neg(broadcastY), tf.mul(tf.sub(1, above), MASK_NEG)), 1),
        R,
      );
      const lower = tf.cast(lowerPick, 'float32');
      const upper = tf.cast(upperPick, 'float32');
      const exists = tf.mul(
        tf.cast(tf.greater(tf.sum(below, 1), 0), 'float32'),
        tf.cast(tf.greater(tf.sum(above, 1), 0), 'float32'),
      );
      const yLower = tf.sum(tf.mul(lower, y), 1);
      const yUpper = tf.sum(tf.mul(upper, y), 1);
      // b = (y_k - y_i) / (y_k - y_j); rows without a pair get b = 1 (their term is masked anyway)
      const span = tf.where(tf.greater(exists, 0), tf.sub(yUpper, yLower), tf.onesLike(yUpper));
      const beta = tf.where(tf.greater(exists, 0), tf.div(tf.sub(yUpper, y), span), tf.onesLike(yUpper));
      const pairCosine = tf.sum(tf.mul(tf.matMul(lower, fixedCosines), upper), 1);
      const mixCosine = tf.div(
        tf.add(
          tf.mul(beta, tf.sum(tf.mul(towardFixed, lower), 1)),
          tf.mul(tf.sub(1, beta), tf.sum(tf.mul(towardFixed, upper), 1)),
        ),
        mixtureNorm(beta, pairCosine),
      );
      const mixLogit = tf.div(mixCosine, tau);
      numerator = tf.add(numerator, tf.mul(mixLogit, exists));
      positiveCount = tf.add(positiveCount, exists);
      denominatorParts.push(
        tf.expandDims(tf.add(mixLogit, tf.mul(tf.sub(1, exists), MASK_NEG)), 1) as tf.Tensor2D,
      );
    }

    const logDenominator = tf.logSumExp(tf.concat(denominatorParts, 1), 1);
    const perAnchor = tf.sub(logDenominator, tf.div(numerator, tf.maximum(positiveCount, 1)));
    return tf.mean(perAnchor) as tf.Scalar;
  });
}
