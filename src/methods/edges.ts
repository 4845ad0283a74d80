import * as tf from '@tensorflow/tfjs';

const SOBEL_X = [
  [-1, 0, 1],
  [-2, 0, 2],
  [-1, 0, 1],
];

/**
 * The Sobel edge map of an image batch [N, H, W, C] as a second input kind of the same shape: g = the channel
 * mean, G_x and G_y its 3x3 Sobel derivatives (zero padding), E = sqrt(G_x^2 + G_y^2 + 1e-12) / 4 (the Sobel
 * kernels' gain), repeated over the C channels so the same encoder takes it.
 */
export function sobelEdges(images: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const channels = images.shape[3];
    const gray = tf.mean(images, 3, true) as tf.Tensor4D;
    const kx = tf.tensor4d(SOBEL_X.flat(), [3, 3, 1, 1]);
    const ky = tf.tensor4d(
      SOBEL_X.flatMap((_, r) => SOBEL_X.map((row) => row[r])),
      [3, 3, 1, 1],
    );
    const gx = tf.conv2d(gray, kx, 1, 'same');
    const gy = tf.conv2d(gray, ky, 1, 'same');
    const magnitude = tf.div(tf.sqrt(tf.add(tf.add(tf.square(gx), tf.square(gy)), 1e-12)), 4);
    return (channels === 1 ? magnitude : tf.tile(magnitude, [1, 1, 1, channels])) as tf.Tensor4D;
  });
}
