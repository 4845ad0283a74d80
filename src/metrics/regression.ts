import { knnRegression, type TargetedEmbeddings } from './knn_regression';
import { linearProbeR2 } from './linear_regression';

/** The regression metrics of one evaluation (on h), for datasets with a continuous target per image. */
export interface RegressionMetrics {
  /** kNN regression (k = 10, cosine) mean absolute error, in target units. */
  knnMae: number;
  /** kNN regression R^2. */
  knnR2: number;
  /** Linear-probe (ridge) R^2. */
  linearR2: number;
}

/** kNN regression MAE and R^2 and linear-probe R^2 of the eval queries from the bank (docs/metrics.md). */
export async function evaluateRegression(
  bank: TargetedEmbeddings,
  query: TargetedEmbeddings,
): Promise<RegressionMetrics> {
  const [knn, linearR2] = await Promise.all([knnRegression(bank, query), linearProbeR2(bank, query)]);
  return { knnMae: knn.mae, knnR2: knn.r2, linearR2 };
}
