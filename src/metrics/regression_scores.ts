/** Continuous targets as plain data, one per embedding row (a split's Float32Array or a number array). */
export type RegressionTargets = Float32Array | readonly number[];

/** Throws unless `targets` has one finite number per row. */
export function checkTargets(targets: RegressionTargets, rows: number, what: string): void {
  if (targets.length !== rows) {
    throw new Error(
      `${what}: got ${targets.length} targets for ${rows} embeddings; pass one target per embedding row`,
    );
  }
  for (let i = 0; i < targets.length; i++) {
    if (!Number.isFinite(targets[i]))
      throw new Error(`${what}: target ${targets[i]} at index ${i} is not finite`);
  }
}

/** MAE = mean_i |yhat_i - y_i|. */
export function meanAbsoluteError(predictions: ArrayLike<number>, targets: RegressionTargets): number {
  let sum = 0;
  for (let i = 0; i < targets.length; i++) sum += Math.abs(predictions[i] - targets[i]);
  return sum / targets.length;
}

/**
 * Coefficient of determination R^2 = 1 - sum_i (yhat_i - y_i)^2 / sum_i (y_i - mean(y))^2: 1 for a perfect
 * prediction, 0 for predicting the mean, negative for worse. 0 when the targets are all equal (no variance to
 * explain).
 */
export function rSquared(predictions: ArrayLike<number>, targets: RegressionTargets): number {
  const n = targets.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += targets[i];
  mean /= n;
  let residual = 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    residual += (predictions[i] - targets[i]) ** 2;
    total += (targets[i] - mean) ** 2;
  }
  return total > 0 ? 1 - residual / total : 0;
}
