import type * as tf from '@tensorflow/tfjs';

/** Throws a clear error when the number of views is outside what a loss accepts or their shapes differ. */
export function checkViews(id: string, views: tf.Tensor[], minViews: number, maxViews: number): void {
  if (views.length < minViews || views.length > maxViews) {
    const range =
      maxViews === Infinity
        ? `at least ${minViews}`
        : minViews === maxViews
          ? `exactly ${minViews}`
          : `${minViews}..${maxViews}`;
    throw new Error(
      `loss '${id}' needs ${range} views, got ${views.length}; set views in the run config accordingly`,
    );
  }
  const first = views[0].shape.join('x');
  views.forEach((view, v) => {
    if (view.rank !== 2 || view.shape.join('x') !== first) {
      throw new Error(
        `loss '${id}': every view must be a [N, D] matrix of the same shape; view 0 is [${views[0].shape}], view ${v} is [${view.shape}]`,
      );
    }
  });
}

/**
 * V, N and D of views that checkViews has accepted (same [N, D] shape); throws when N < minInstances,
 * for losses whose negatives or pairs would be an empty set.
 */
export function viewShape(
  id: string,
  views: tf.Tensor2D[],
  minInstances = 1,
): { V: number; N: number; D: number } {
  const [N, D] = views[0].shape;
  if (N < minInstances) {
    throw new Error(
      `loss '${id}' needs at least ${minInstances} instances per batch, got ${N}; increase the batch size`,
    );
  }
  return { V: views.length, N, D };
}
