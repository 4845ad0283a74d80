import * as tf from '@tensorflow/tfjs';
import { buildMlpHead, copyWeights } from '../nn/heads';
import { correspondenceMasks, type ViewGeometry } from '../nn/pixel_pairs';
import { Rng } from '../nn/random';
import { stopGradient } from '../nn/rows';
import type { Network } from '../nn/types';
import { checkViews } from '../losses/views';
import { byolTargetDecay } from './byol';
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
import type { MethodBinding, MethodInputs, MethodModule, StepInfo } from './types';

export interface PixproParams extends Record<string, number> {
  T: number;
  gamma: number;
  ppmLayers: number;
  baseMomentum: number;
  pixHidden: number;
  pixDim: number;
  alpha: number;
  predHidden: number;
}

/** Rows scaled to unit length along the last axis (a zero row stays zero with a finite gradient). */
function unitLastAxis<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x), -1, true), 1e-24))) as T);
}

/**
 * The pixel propagation module (Xie et al. 2021, eqs. 3-4) on pixel features x [N, P, D] of one view:
 *   y_i = sum_j s(x_i, x_j) g(x_j),   s(x_i, x_j) = max(cos(x_i, x_j), 0)^gamma,
 * over all P pixels j of the same image. `transform` is g applied to [N P, D] rows (identity when null).
 * gamma = 0 weighs every pixel 1 (0^0 = 1, as the reference code computes it).
 */
export function pixelPropagation(
  x: tf.Tensor3D,
  gamma: number,
  transform: ((rows: tf.Tensor2D) => tf.Tensor2D) | null,
): tf.Tensor3D {
  return tf.tidy(() => {
    const [N, P, D] = x.shape;
    const unit = unitLastAxis(x);
    const cosines = tf.matMul(unit, unit, false, true);
    let weights: tf.Tensor;
    if (gamma === 0) {
      weights = tf.onesLike(cosines);
    } else {
      // step(c) (1 for c > 0, else 0) times pow of a floored cosine: pow's gradient at 0 stays finite for gamma < 1
      weights = tf.mul(tf.step(cosines, 0), tf.pow(tf.maximum(cosines, 1e-12), gamma));
    }
    const values = transform
      ? (tf.reshape(transform(tf.reshape(x, [N * P, D]) as tf.Tensor2D), [N, P, -1]) as tf.Tensor3D)
      : x;
    return tf.matMul(weights as tf.Tensor3D, values);
  });
}

/**
 * The pixel-to-propagation consistency loss (Xie et al. 2021, eq. 5) of one batch: y_v [N, P, D] the propagated
 * online pixels of view v, t_v [N, P, D] the momentum encoder's pixels (constants), mask [N, P, P] with
 * mask[n, i, j] = A(i, j) for cell i of view 1 and cell j of view 2 of image n. Per image, the mean over its
 * positive pairs of cos(y1_i, t2_j) + cos(y2_j, t1_i), 0 for an image without any; minus the mean over images:
 *   L_pix = -(1/N) sum_n (1/|A_n|) sum_{(i,j): A_n(i,j)=1} [ cos(y1_i, t2_j) + cos(y2_j, t1_i) ],  in [-2, 2].
 */
export function pixproPixelLoss(
  y: [tf.Tensor3D, tf.Tensor3D],
  t: [tf.Tensor3D, tf.Tensor3D],
  mask: tf.Tensor3D,
): tf.Scalar {
  return tf.tidy(() => {
    const [y1, y2] = y.map(unitLastAxis);
    const [t1, t2] = t.map(unitLastAxis);
    const counts = tf.maximum(tf.sum(mask, [1, 2]), 1);
    const forward = tf.sum(tf.mul(tf.matMul(y1, t2, false, true), mask), [1, 2]);
    const backward = tf.sum(tf.mul(tf.matMul(y2, t1, false, true), tf.transpose(mask, [0, 2, 1])), [1, 2]);
    return tf.neg(tf.mean(tf.div(tf.add(forward, backward), counts))) as tf.Scalar;
  });
}

/** Applies a head built for [rows, F] to every pixel of maps [N, h, w, F]: [N, h w, out]. */
function perPixel(head: tf.LayersModel, map: tf.Tensor4D, training: boolean): tf.Tensor3D {
  return tf.tidy(() => {
    const [N, h, w, F] = map.shape;
    const rows = head.apply(tf.reshape(map, [N * h * w, F]), { training }) as tf.Tensor2D;
    return tf.reshape(rows, [N, h * w, -1]) as tf.Tensor3D;
  });
}

/** What bind() creates. */
interface PixproState {
  online: Network;
  target: Network;
  /** Online and target variable pairs: backbone + projector, then the pixel head. */
  pairs: TargetPairs;
  pixHead: tf.LayersModel;
  targetPixHead: tf.LayersModel;
  transform: tf.LayersModel | null;
  predictor: tf.LayersModel | null;
}

/** Throws unless `geometry` holds two views of `n` images each. */
function requireGeometry(inputs: MethodInputs, n: number): [ViewGeometry[], ViewGeometry[]] {
  const geometry = inputs.geometry;
  if (!geometry || geometry.length < 2 || geometry.some((g) => g.length !== n)) {
    throw new Error(
      `loss 'pixpro' pairs the pixels of the two views by their crop boxes: pass inputs.geometry, two lists of ${n} ` +
        `crop boxes and flips (makeViewsWithGeometry in engine/augment.ts returns them), got ` +
        (geometry ? `${geometry.length} list(s) of [${geometry.map((g) => g.length).join(', ')}]` : 'none'),
    );
  }
  return [geometry[0], geometry[1]];
}

export function createPixpro(params: PixproParams): MethodModule {
  const { T, gamma, ppmLayers, baseMomentum, pixHidden, pixDim, alpha, predHidden } = params;
  let bound: PixproState | null = null;

  const release = (): void => {
    if (bound) {
      bound.target.dispose();
      bound.pixHead.dispose();
      bound.targetPixHead.dispose();
      bound.transform?.dispose();
      bound.predictor?.dispose();
    }
    bound = null;
  };
  const parts = (state: PixproState): [string, tf.LayerVariable[]][] => [
    ['target', state.target.allWeights],
    ['targetPix', state.targetPixHead.weights],
    ['pix', state.pixHead.weights],
    ...(state.transform ? [['transform', state.transform.weights] as [string, tf.LayerVariable[]]] : []),
    ...(state.predictor ? [['predictor', state.predictor.weights] as [string, tf.LayerVariable[]]] : []),
  ];
  const requireBound = (what: string): PixproState => {
    if (!bound) throw notBoundError('pixpro', what);
    return bound;
  };

  return {
    id: 'pixpro',
    get trainableVariables() {
      if (!bound) return [];
      return [bound.pixHead, bound.transform, bound.predictor].flatMap((m) => (m ? modelVariables(m) : []));
    },
    bind(binding: MethodBinding) {
      release();
      const { network, seed } = binding;
      const rng = new Rng(seed);
      const headSeed = rng.fork();
      const head = () =>
        buildMlpHead(
          network.featureDim,
          { layers: 2, hidden: pixHidden, out: pixDim, batchNorm: true },
          headSeed,
          'pixpro_pix',
        );
      const pixHead = head();
      const targetPixHead = head();
      copyWeights(pixHead, targetPixHead);
      const transformSeed = rng.fork();
      const transform =
        ppmLayers > 0
          ? buildMlpHead(
              pixDim,
              { layers: ppmLayers, hidden: pixDim, out: pixDim, batchNorm: true },
              transformSeed,
              'pixpro_transform',
            )
          : null;
      const predictorSeed = rng.fork();
      const predictor =
        alpha > 0
          ? buildPredictor(network.embeddingDim, predHidden, predictorSeed, 'pixpro_predictor')
          : null;
      let target: ReturnType<typeof cloneTarget>;
      try {
        target = cloneTarget('pixpro', network);
      } catch (error) {
        [pixHead, targetPixHead, transform, predictor].forEach((m) => m?.dispose());
        throw error;
      }
      bound = {
        online: network,
        target: target.target,
        pairs: {
          online: [...target.pairs.online, ...modelVariables(pixHead)],
          target: [...target.pairs.target, ...modelVariables(targetPixHead)],
        },
        pixHead,
        targetPixHead,
        transform,
        predictor,
      };
    },
    forwardViews(views) {
      const state = requireBound('forwardViews');
      if (views.length !== 2 || views[0].shape.join() !== views[1].shape.join()) {
        throw new Error(
          `loss 'pixpro' needs two views of the same size, got ${views.length}: [${views.map((v) => `[${v.shape}]`).join(', ')}]`,
        );
      }
      return tf.tidy(() => {
        // one pass over both views, as the trainer's own forward: BatchNorm sees them together
        const { map, h, z } = state.online.forwardSpatial(tf.concat(views, 0) as tf.Tensor4D, true);
        return {
          h: tf.split(h, 2, 0) as tf.Tensor2D[],
          z: tf.split(z, 2, 0) as tf.Tensor2D[],
          maps: tf.split(map, 2, 0) as tf.Tensor4D[],
        };
      });
    },
    compute(inputs) {
      checkViews('pixpro', inputs.views, 2, 2);
      const state = requireBound('compute');
      const N = checkEmbeddingViews('pixpro', inputs.views, state.online.embeddingDim);
      const images = requireImages('pixpro', inputs, 2);
      const [g1, g2] = requireGeometry(inputs, N);
      return tf.tidy(() => {
        const maps =
          inputs.maps ??
          (tf.split(
            state.online.forwardSpatial(tf.concat(images, 0) as tf.Tensor4D, true).map,
            2,
            0,
          ) as tf.Tensor4D[]);
        const [, h, w] = maps[0].shape;
        if (
          maps.length < 2 ||
          maps.some((m) => m.shape[0] !== N || m.shape.join() !== maps[0].shape.join())
        ) {
          throw new Error(
            `loss 'pixpro': inputs.maps must be two [${N}, h, w, F] maps of the same shape, got ${maps.map((m) => `[${m.shape}]`).join(', ')}`,
          );
        }
        const mask = tf.tensor3d(correspondenceMasks(g1, g2, h, w, T), [N, h * w, h * w]);
        // the pixel head sees both views in one batch, as the backbone does
        const [x1, x2] = tf.split(
          perPixel(state.pixHead, tf.concat(maps.slice(0, 2), 0) as tf.Tensor4D, true),
          2,
          0,
        );
        const transform = state.transform;
        const g = transform
          ? (rows: tf.Tensor2D) => transform.apply(rows, { training: true }) as tf.Tensor2D
          : null;
        const y1 = pixelPropagation(x1 as tf.Tensor3D, gamma, g);
        const y2 = pixelPropagation(x2 as tf.Tensor3D, gamma, g);
        const target = state.target.forwardSpatial(tf.concat(images, 0) as tf.Tensor4D, true);
        const [t1, t2] = tf.split(stopGradient(perPixel(state.targetPixHead, target.map, true)), 2, 0);
        let loss = pixproPixelLoss([y1, y2], [t1 as tf.Tensor3D, t2 as tf.Tensor3D], mask);
        if (state.predictor) {
          const [k1, k2] = tf.split(stopGradient(target.z), 2, 0) as tf.Tensor2D[];
          const p1 = predict(state.predictor, inputs.views[0]);
          const p2 = predict(state.predictor, inputs.views[1]);
          // BYOL's form: mean_i (2 - 2 s(q(z1)_i, z'2_i)) + (2 - 2 s(q(z2)_i, z'1_i))
          const instance = tf.sub(4, tf.mul(2, tf.add(meanRowCosine(p1, k2), meanRowCosine(p2, k1))));
          loss = tf.add(loss, tf.mul(alpha, instance));
        }
        return loss as tf.Scalar;
      });
    },
    afterStep(info: StepInfo) {
      const state = requireBound('afterStep');
      momentumUpdate(state.pairs, byolTargetDecay(info.step, info.totalSteps, baseMomentum));
    },
    getState() {
      const state = requireBound('getState');
      return Object.assign({}, ...parts(state).map(([prefix, weights]) => weightsState(prefix, weights)));
    },
    setState(saved) {
      const state = requireBound('setState');
      checkStateShapes(
        'pixpro',
        saved,
        parts(state).flatMap(([prefix, weights]) => weightShapes(prefix, weights)),
      );
      for (const [prefix, weights] of parts(state)) restoreWeights(prefix, weights, saved);
    },
    dispose() {
      release();
    },
  };
}

/**
 * PixPro, pixel-to-propagation consistency (Xie, Lin, Zhang, Cao, Lin, Hu, "Propagate Yourself: Exploring
 * Pixel-Level Consistency for Unsupervised Visual Representation Learning", CVPR 2021, arXiv 2011.10043).
 * Two augmented views of each image with their crop boxes; the backbone's spatial maps go through a per-pixel
 * projection head (Linear-BN-ReLU-Linear, pixHidden -> pixDim) giving x; the pixel propagation module gives
 * y_i = sum_j max(cos(x_i, x_j), 0)^gamma g(x_j); a momentum encoder (backbone + pixel head, EMA of the online
 * ones, decay raised from baseMomentum to 1 by BYOL's cosine schedule) gives x'. Cells i, j of the two views are a
 * positive pair when their centres are at most T cell diagonals apart in the source image, and
 *   L = L_pix + alpha L_ins,  L_pix = -mean over positive pairs of [cos(y_i, x'_j) + cos(y_j, x'_i)] (per image,
 *   then over images), L_ins = BYOL's loss on the pooled features' projections (predictor q, target projections).
 * Needs bind(), inputs.images, inputs.geometry and (from forwardViews, else computed) inputs.maps. Formulas and
 * choices: docs/losses.md.
 */
