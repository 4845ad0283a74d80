import * as tf from '@tensorflow/tfjs';
import { normalizeRows } from '../nn/rows';
import { checkEmbeddings } from './labels';
import type { TargetedEmbeddings } from './knn_regression';
import { checkTargets, rSquared } from './regression_scores';

export interface LinearRegressionOptions {
  /** Ridge penalty lambda (default 1e-4), relative to the mean squared error (see linearProbeR2). */
  ridge?: number;
}

/** Solves A x = b for a symmetric positive definite n x n A (row-major, float64) by Cholesky. */
export function choleskySolve(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * n + j];
      for (let k = 0; k < j; k++) sum -= l[i * n + k] * l[j * n + k];
      if (i === j) {
        if (!(sum > 0)) throw new Error('choleskySolve: the matrix is not positive definite');
        l[i * n + i] = Math.sqrt(sum);
      } else {
        l[i * n + j] = sum / l[j * n + j];
      }
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sum = b[i];
    for (let k = 0; k < i; k++) sum -= l[i * n + k] * y[k];
    y[i] = sum / l[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let sum = y[i];
    for (let k = i + 1; k < n; k++) sum -= l[k * n + i] * x[k];
    x[i] = sum / l[i * n + i];
  }
  return x;
}

/**
 * Linear-probe R^2 (the regression counterpart of linearProbeTop1): ridge regression with an intercept on the
 * frozen features x = norm(h) of the training set,
 *   (w, b) = argmin (1/n) sum_i (y_i - b - w . x_i)^2 + lambda ||w||^2,   lambda = 1e-4,
 * solved exactly (the intercept by centring, w by Cholesky of Xc^T Xc / n + lambda I); returns the R^2 of its
 * predictions on the test features. The F x F normal matrix is formed on the device and solved in float64.
 */
export async function linearProbeR2(
  train: TargetedEmbeddings,
  test: TargetedEmbeddings,
  options: LinearRegressionOptions = {},
): Promise<number> {
  const ridge = options.ridge ?? 1e-4;
  if (!(ridge > 0)) throw new Error(`linear regression: ridge must be > 0, got ${ridge}`);
  checkEmbeddings(train.embeddings, 'linear regression train set');
  checkEmbeddings(test.embeddings, 'linear regression test set');
  const [n, dims] = train.embeddings.shape;
  if (test.embeddings.shape[1] !== dims) {
    throw new Error(
      `linear regression: test features have dimension ${test.embeddings.shape[1]} but train features have ${dims}; use the same network output for both`,
    );
  }
  checkTargets(train.targets, n, 'linear regression train set');
  checkTargets(test.targets, test.embeddings.shape[0], 'linear regression test set');
  let targetMean = 0;
  for (let i = 0; i < n; i++) targetMean += train.targets[i];
  targetMean /= n;
  const centredTargets = Float32Array.from(train.targets, (y) => y - targetMean);
  const [normal, moment, featureMean, testFeatures] = tf.tidy(() => {
    const x = normalizeRows(train.embeddings);
    const mean = tf.mean(x, 0, true);
    const xc = tf.sub(x, mean);
    const y = tf.tensor2d(centredTargets, [n, 1]);
    return [
      tf.div(tf.matMul(xc, xc, true, false), n),
      tf.div(tf.matMul(xc, y, true, false), n),
      mean,
      normalizeRows(test.embeddings),
    ];
  });
  const [normalValues, momentValues, meanValues, testValues] = await Promise.all([
    normal.data(),
    moment.data(),
    featureMean.data(),
    testFeatures.data(),
  ]);
  tf.dispose([normal, moment, featureMean, testFeatures]);
  const a = Float64Array.from(normalValues);
  for (let i = 0; i < dims; i++) a[i * dims + i] += ridge;
  const w = choleskySolve(a, Float64Array.from(momentValues), dims);
  const rows = test.embeddings.shape[0];
  const predictions = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = targetMean;
    for (let j = 0; j < dims; j++) sum += (testValues[r * dims + j] - meanValues[j]) * w[j];
    predictions[r] = sum;
  }
  return rSquared(predictions, test.targets);
}
