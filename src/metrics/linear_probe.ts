import * as tf from '@tensorflow/tfjs';
import { normalizeRows } from '../nn/rows';
import { checkEmbeddings, checkLabels, labelTensor, top1Accuracy, type LabelledEmbeddings } from './labels';

export interface LinearProbeOptions {
  /** Full-batch Adam steps: a fixed count, so the same features always give the same probe. */
  steps?: number;
  learningRate?: number;
  /** L2 penalty lambda on the weights (the bias is not penalised). */
  l2?: number;
  /** Class count (the dataset's); by default the largest label + 1. */
  numClasses?: number;
}

/**
 * Linear probe top-1 accuracy (the standard linear evaluation protocol, e.g. Chen et al. 2020,
 * SimCLR): multinomial logistic regression on frozen features x = norm(h),
 *   p(c | x) = softmax(x W + b)_c,
 *   loss(W, b) = mean_i -log p(y_i | x_i) + (lambda / 2) ||W||_F^2,   lambda = 1e-4,
 * minimised from W = 0, b = 0 by a fixed number of full-batch Adam steps on the train
 * embeddings (deterministic, no shuffling); returns the fraction of test embeddings whose argmax
 * class equals their label. Everything stays on the device; one readback.
 */
export async function linearProbeTop1(
  train: LabelledEmbeddings,
  test: LabelledEmbeddings,
  options: LinearProbeOptions = {},
): Promise<number> {
  const steps = options.steps ?? 100;
  const learningRate = options.learningRate ?? 0.1;
  const l2 = options.l2 ?? 1e-4;
  checkEmbeddings(train.embeddings, 'linear probe train set');
  checkEmbeddings(test.embeddings, 'linear probe test set');
  const dims = train.embeddings.shape[1];
  if (test.embeddings.shape[1] !== dims) {
    throw new Error(
      `linear probe: test features have dimension ${test.embeddings.shape[1]} but train features have ${dims}; use the same network output for both`,
    );
  }
  if (!Number.isInteger(steps) || steps < 0)
    throw new Error(`linear probe: steps must be a non-negative integer, got ${steps}`);
  if (!(learningRate > 0)) throw new Error(`linear probe: learningRate must be > 0, got ${learningRate}`);
  if (!(l2 >= 0)) throw new Error(`linear probe: l2 must be >= 0, got ${l2}`);
  const numClasses = Math.max(
    checkLabels(train.labels, train.embeddings.shape[0], 'linear probe train set', options.numClasses),
    checkLabels(test.labels, test.embeddings.shape[0], 'linear probe test set', options.numClasses),
  );

  const features = normalizeRows(train.embeddings);
  const targets = tf.tidy(() => tf.oneHot(labelTensor(train.labels), numClasses).toFloat());
  // tf.variable keeps its initial tensor alive; the tidy disposes the zeros once copied.
  const weights = tf.tidy(() => tf.variable(tf.zeros([dims, numClasses])));
  const bias = tf.tidy(() => tf.variable(tf.zeros([numClasses])));
  const optimizer = tf.train.adam(learningRate);
  for (let step = 0; step < steps; step++) {
    // No readback inside the loop: the device queues all steps back to back.
    optimizer.minimize(
      () => {
        const logits = tf.add(tf.matMul(features, weights), bias);
        const crossEntropy = tf.losses.softmaxCrossEntropy(targets, logits);
        return tf.add(crossEntropy, tf.mul(l2 / 2, tf.sum(tf.square(weights)))) as tf.Scalar;
      },
      false,
      [weights, bias],
    );
  }
  const predictions = tf.tidy(
    () => tf.argMax(tf.add(tf.matMul(normalizeRows(test.embeddings), weights), bias), 1) as tf.Tensor1D,
  );
  const accuracy = await top1Accuracy(predictions, test.labels);
  [features, targets, weights, bias, predictions].forEach((tensor) => tensor.dispose());
  optimizer.dispose();
  return accuracy;
}
