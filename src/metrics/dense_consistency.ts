import * as tf from '@tensorflow/tfjs';

/**
 * Dense pixel consistency of spatial feature maps between two views of the same images (the diagnostic of
 * pixel-level objectives, docs/metrics.md): the mean cosine similarity of the feature vectors of corresponding
 * cells (positive pairs: centres at most `threshold` cell diagonals apart in the source image, as PixPro pairs them)
 * and of all other cell pairs of the same image. A map that tells places apart has matched well above unmatched;
 * a collapsed one has both near 1.
 */
export interface DenseConsistency {
  /** Mean cosine over corresponding cell pairs (null when no image had one). */
  matched: number | null;
  /** Mean cosine over the non-corresponding cell pairs of the same images (null when there were none). */
  unmatched: number | null;
  /** Corresponding pairs per image, on average. */
  pairsPerImage: number;
  /** The distance threshold the pairs were taken at. */
  threshold: number;
  /** Images it was measured on. */
  images: number;
}

/** The running sums of one chunk of images; denseConsistency combines chunks. */
export interface DenseSums {
  matchedSum: number;
  matchedCount: number;
  unmatchedSum: number;
  unmatchedCount: number;
  images: number;
}

/**
 * Cosine sums of one chunk: maps [N, h, w, F] of view a and view b of the same N images, masks [N, hw, hw] with
 * masks[n, i, j] = 1 when cell i of view a and cell j of view b correspond (nn/pixel_pairs.ts), else 0.
 */
export async function denseSums(
  mapA: tf.Tensor4D,
  mapB: tf.Tensor4D,
  masks: Float32Array,
): Promise<DenseSums> {
  const [N, h, w, F] = mapA.shape;
  if (mapB.shape.join() !== mapA.shape.join()) {
    throw new Error(`denseSums: the two maps differ in shape, [${mapA.shape}] and [${mapB.shape}]`);
  }
  const cells = h * w;
  if (masks.length !== N * cells * cells) {
    throw new Error(
      `denseSums: masks hold ${masks.length} values, expected N * (h w)^2 = ${N * cells * cells} for maps [${mapA.shape}]`,
    );
  }
  const sums = tf.tidy(() => {
    const unit = (map: tf.Tensor4D) => {
      const rows = tf.reshape(map, [N, cells, F]);
      return tf.mul(rows, tf.rsqrt(tf.maximum(tf.sum(tf.square(rows), -1, true), 1e-24)));
    };
    const cosines = tf.matMul(unit(mapA) as tf.Tensor3D, unit(mapB) as tf.Tensor3D, false, true);
    const mask = tf.tensor3d(masks, [N, cells, cells]);
    const matched = tf.sum(tf.mul(cosines, mask));
    return tf.stack([matched, tf.sub(tf.sum(cosines), matched), tf.sum(mask)]);
  });
  const [matchedSum, unmatchedSum, matchedCount] = Array.from(await sums.data());
  sums.dispose();
  return {
    matchedSum,
    matchedCount,
    unmatchedSum,
    unmatchedCount: N * cells * cells - matchedCount,
    images: N,
  };
}

/** The DenseConsistency of all chunks together: means over every pair (not per image). */
export function denseConsistency(parts: DenseSums[], threshold: number): DenseConsistency {
  const total = (key: keyof DenseSums) => parts.reduce((sum, part) => sum + part[key], 0);
  const images = total('images');
  const matchedCount = total('matchedCount');
  const unmatchedCount = total('unmatchedCount');
  return {
    matched: matchedCount > 0 ? total('matchedSum') / matchedCount : null,
    unmatched: unmatchedCount > 0 ? total('unmatchedSum') / unmatchedCount : null,
    pairsPerImage: images > 0 ? matchedCount / images : 0,
    threshold,
    images,
  };
}
