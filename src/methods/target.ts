// Helpers shared by the siamese methods with state (moco, byol, simsiam): target networks updated by a
// momentum / EMA rule, predictor heads, the images check, and checkpoint state for LayersModel weights.
import * as tf from '@tensorflow/tfjs';
import type { Network } from '../nn/types';
import { buildMlpHead } from '../nn/heads';
import { normalizeRows } from '../nn/rows';
import type { MethodInputs } from './types';

/** The error for compute/afterStep/getState/setState called before bind(). */
export function notBoundError(id: string, method: string): Error {
  return new Error(
    `loss '${id}': ${method} called before bind(); the trainer calls bind({ network, totalSteps, stepsPerEpoch, numClasses, seed }) once before the first step, do the same when using the loss directly`,
  );
}

/** Throws unless every view is [N, embeddingDim] for the same N; returns N. */
export function checkEmbeddingViews(id: string, views: tf.Tensor2D[], embeddingDim: number): number {
  const N = views[0].shape[0];
  views.forEach((view, v) => {
    if (view.rank !== 2 || view.shape[0] !== N || view.shape[1] !== embeddingDim) {
      throw new Error(
        `loss '${id}': views[${v}] has shape [${view.shape.join(', ')}], expected [${N}, ${embeddingDim}] (batch x the bound network's embedding dim); bind() the network that produces the views`,
      );
    }
  });
  return N;
}

/**
 * The first `count` augmented image batches (`inputs.images`), checked to hold one image per view row.
 * Methods with a target network need them: the target runs on the same augmented images as the online network.
 */
export function requireImages(id: string, inputs: MethodInputs, count: number): tf.Tensor4D[] {
  const images = inputs.images;
  if (!images || images.length < count) {
    throw new Error(
      `loss '${id}' runs its target network on the augmented images: pass inputs.images (the ${count} image batches [N, H, W, C] the views came from), got ${images ? images.length : 'none'}`,
    );
  }
  for (let v = 0; v < count; v++) {
    if (images[v].shape[0] !== inputs.views[v].shape[0]) {
      throw new Error(
        `loss '${id}': images[${v}] has ${images[v].shape[0]} images but views[${v}] has ${inputs.views[v].shape[0]} rows; pass the image batches in the same order as the views`,
      );
    }
  }
  return images.slice(0, count);
}

/** The online network's trainable variables paired with a target copy's (same architecture, same order). */
export interface TargetPairs {
  online: tf.Variable[];
  target: tf.Variable[];
}

/**
 * A target copy of the online network (MoCo's key encoder, BYOL's target) and the variable pairs that the
 * momentum update moves. The target gets no gradient: callers pass its outputs through stopGradient, and its
 * variables are never handed to the optimizer. Its BatchNorm moving statistics follow its own forward passes.
 */
export function cloneTarget(id: string, network: Network): { target: Network; pairs: TargetPairs } {
  const target = network.clone();
  const online = network.trainableVariables;
  const copy = target.trainableVariables;
  const sameShapes =
    online.length === copy.length && online.every((v, i) => v.shape.join() === copy[i].shape.join());
  if (!sameShapes) {
    target.dispose();
    throw new Error(
      `loss '${id}': network.clone() returned a different architecture; build the clone with the same build function`,
    );
  }
  return { target, pairs: { online, target: copy } };
}

/**
 * Momentum (EMA) update of the target: theta_target <- momentum * theta_target + (1 - momentum) * theta_online,
 * for every trainable variable pair.
 */
export function momentumUpdate(pairs: TargetPairs, momentum: number): void {
  tf.tidy(() => {
    pairs.target.forEach((target, i) => {
      target.assign(tf.add(tf.mul(target, momentum), tf.mul(pairs.online[i], 1 - momentum)));
    });
  });
}

/**
 * Predictor head q of BYOL and SimSiam: Linear(D, hidden) -> BatchNorm -> ReLU -> Linear(hidden, D).
 * Its trainable weights are [fc0 kernel (D x hidden), bn0 gamma, bn0 beta, fc1 kernel (hidden x D), fc1 bias].
 */
export function buildPredictor(
  embeddingDim: number,
  hidden: number,
  seed: number,
  name: string,
): tf.LayersModel {
  return buildMlpHead(embeddingDim, { layers: 2, hidden, out: embeddingDim, batchNorm: true }, seed, name);
}

/** Runs the predictor in training mode (batch statistics in its BatchNorm, as in both papers). */
export function predict(predictor: tf.LayersModel, z: tf.Tensor2D): tf.Tensor2D {
  return predictor.apply(z, { training: true }) as tf.Tensor2D;
}

/** Trainable variables of a LayersModel, in its stable order. */
export function modelVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/** mean_i s(a_i, b_i): the mean row-wise cosine of two [N, D] matrices. */
export function meanRowCosine(a: tf.Tensor2D, b: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.sum(tf.mul(normalizeRows(a), normalizeRows(b)), 1)) as tf.Scalar);
}

/** Checkpoint entries `${prefix}.${i}` for every weight, as copies the caller owns and disposes. */
export function weightsState(prefix: string, weights: tf.LayerVariable[]): Record<string, tf.Tensor> {
  return Object.fromEntries(weights.map((w, i) => [`${prefix}.${i}`, w.read().clone()]));
}

/** The expected name -> shape of the entries weightsState(prefix, weights) writes. */
export function weightShapes(prefix: string, weights: tf.LayerVariable[]): [string, number[]][] {
  return weights.map((w, i) => [`${prefix}.${i}`, w.shape as number[]]);
}

/** Writes the entries of weightsState back into the weights (call checkStateShapes first). */
export function restoreWeights(
  prefix: string,
  weights: tf.LayerVariable[],
  state: Record<string, tf.Tensor>,
): void {
  weights.forEach((w, i) => w.write(state[`${prefix}.${i}`]));
}

/**
 * Throws, before anything is written, when `state` lacks an expected entry or one has the wrong shape,
 * naming every problem.
 */
export function checkStateShapes(
  id: string,
  state: Record<string, tf.Tensor>,
  expected: [string, number[]][],
): void {
  const missing = expected.filter(([name]) => !(name in state)).map(([name]) => name);
  const wrong = expected
    .filter(([name, shape]) => name in state && state[name].shape.join() !== shape.join())
    .map(
      ([name, shape]) =>
        `${name} has shape [${state[name].shape.join(', ')}], expected [${shape.join(', ')}]`,
    );
  if (missing.length > 0 || wrong.length > 0) {
    const problems = [...(missing.length > 0 ? [`missing ${missing.join(', ')}`] : []), ...wrong];
    throw new Error(
      `loss '${id}'.setState: ${problems.join('; ')}; restore state saved by getState() of the same loss with the same params and network architecture`,
    );
  }
}

// Checkpoint state of LayersModel heads (amcl, hydra). Keyed by layer/param name, unlike siamese_common's
// weightsState (positional `${prefix}.${i}` keys over a Network's weights): the saved key layouts differ.

/** Copies of every weight of `model` (trainable and BatchNorm statistics), keyed by its stable layer/param name. */
export function modelWeightsState(model: tf.LayersModel): Record<string, tf.Tensor> {
  return Object.fromEntries(model.weights.map((w) => [w.originalName, w.read().clone()]));
}

/** Writes the weights saved by modelWeightsState back into `model`; throws naming the missing or mis-shaped weight. */
export function restoreModelWeights(
  owner: string,
  model: tf.LayersModel,
  state: Record<string, tf.Tensor>,
): void {
  for (const w of model.weights) {
    const value = state[w.originalName];
    if (!value)
      throw new Error(
        `${owner}.setState: missing weight '${w.originalName}'; pass the object returned by getState()`,
      );
    const expected = w.read().shape;
    if (!tf.util.arraysEqual(value.shape, expected)) {
      throw new Error(
        `${owner}.setState: weight '${w.originalName}' has shape [${value.shape}], expected [${expected}]`,
      );
    }
    w.write(value);
  }
}
