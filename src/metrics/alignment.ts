import * as tf from '@tensorflow/tfjs';
import { normalizeRows } from '../nn/rows';
import { checkEmbeddings } from './labels';

/**
 * Alignment (Wang & Isola 2020, "Understanding Contrastive Representation Learning through
 * Alignment and Uniformity on the Hypersphere"):
 *   alignment = mean_i || norm(z_i) - norm(z'_i) ||_2^alpha,   alpha = 2 by default,
 * where z_i and z'_i embed two augmented views of eval image i. 0 when views coincide, 4 when
 * they are antipodal; lower is better. One device readback.
 */
export async function alignment(z1: tf.Tensor2D, z2: tf.Tensor2D, alpha = 2): Promise<number> {
  checkEmbeddings(z1, 'alignment (first view)');
  if (z1.shape[0] !== z2.shape[0] || z1.shape[1] !== z2.shape[1]) {
    throw new Error(
      `alignment: the two views must have the same shape, got [${z1.shape.join(', ')}] and [${z2.shape.join(', ')}]; pass row i of both views from the same image`,
    );
  }
  if (!(alpha > 0)) throw new Error(`alignment: alpha must be > 0, got ${alpha}`);
  const value = tf.tidy(() => {
    const squaredDistance = tf.sum(tf.square(tf.sub(normalizeRows(z1), normalizeRows(z2))), 1);
    // ||d||^alpha = (||d||^2)^(alpha / 2); skip the pow for the usual alpha = 2.
    const distancePower = alpha === 2 ? squaredDistance : tf.pow(squaredDistance, alpha / 2);
    return tf.mean(distancePower);
  });
  const [result] = await value.data();
  value.dispose();
  return result;
}
