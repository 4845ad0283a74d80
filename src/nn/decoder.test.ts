import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { buildConvDecoder, DECODER_STAGES, upSampling2d } from './decoder';
import { Rng } from './random';

function latents(seed: number, n: number, d: number): tf.Tensor2D {
  const rng = new Rng(seed);
  return tf.tensor2d(
    Array.from({ length: n * d }, () => rng.normal()),
    [n, d],
  );
}

describe('the convolutional decoder', () => {
  it('reconstructs images of the dataset size, cropping when the size is not a multiple of 4', () => {
    const cases: [[number, number, number], number][] = [
      [[28, 28, 1], 7 * 7 * 8],
      [[32, 32, 3], 8 * 8 * 8],
      [[30, 29, 1], 8 * 8 * 8],
      [[8, 8, 3], 2 * 2 * 8],
    ];
    for (const [imageShape, fcUnits] of cases) {
      const decoder = buildConvDecoder({ latentDim: 5, imageShape, width: 4, seed: 1 });
      const z = latents(2, 3, 5);
      const [x, info] = decoder.model.apply(z, { training: false }) as tf.Tensor[];
      expect(x.shape).toEqual([3, ...imageShape]);
      expect(info.shape).toEqual([3, 16]);
      expect(decoder.informativeDim).toBe(16);
      // the first layer maps z to the ceil(H / 4) x ceil(W / 4) x 2c start map
      expect(decoder.model.getLayer('decoder_fc').getWeights()[0].shape).toEqual([5, fcUnits]);
      tf.dispose([z, x, info]);
      decoder.model.dispose();
    }
    expect(DECODER_STAGES).toBe(2);
  });

  it('its informative output is the global average of each hidden map, concatenated', () => {
    const decoder = buildConvDecoder({ latentDim: 3, imageShape: [8, 8, 1], width: 2, seed: 4, name: 'dec' });
    const hidden = ['dec_relu0', 'dec_relu1', 'dec_relu2'].map(
      (name) => decoder.model.getLayer(name).output as tf.SymbolicTensor,
    );
    const probe = tf.model({ inputs: decoder.model.inputs, outputs: hidden });
    const z = latents(5, 4, 3);
    const maps = probe.predict(z) as tf.Tensor4D[];
    expect(maps.map((m) => m.shape)).toEqual([
      [4, 2, 2, 4],
      [4, 4, 4, 2],
      [4, 8, 8, 2],
    ]);
    const expected = tf.concat(
      maps.map((m) => tf.mean(m, [1, 2])),
      1,
    );
    const [, info] = decoder.model.apply(z, { training: false }) as tf.Tensor[];
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(info, expected))).dataSync()[0])).toBeLessThan(1e-6);
    // ReLU maps: every informative value is >= 0, and some are > 0
    const values = Array.from(info.dataSync());
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeGreaterThan(0);
    tf.dispose([z, ...maps, expected, info]);
    decoder.model.dispose();
  });

  it('upsamples by repeating each pixel, and its gradient sums each block, for every image of the batch', () => {
    // 3 images, 2 x 3 pixels, 2 channels, upsampled 2 x 3; on the cpu backend (the unit tests'), where
    // tf.image.resizeNearestNeighbor's gradient gives images after the first another image's sums
    const [N, H, W, C, sh, sw] = [3, 2, 3, 2, 2, 3];
    const layer = upSampling2d({ size: [sh, sw] });
    const x = latents(6, N * H * W, C).reshape([N, H, W, C]) as tf.Tensor4D;
    const dy = latents(7, N * H * sh * W * sw, C).reshape([N, H * sh, W * sw, C]) as tf.Tensor4D;
    const y = layer.apply(x) as tf.Tensor4D;
    expect(y.shape).toEqual([N, H * sh, W * sw, C]);
    const dx = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(layer.apply(input) as tf.Tensor, dy)))(x);
    const [xv, yv, dyv, dxv] = [x, y, dy, dx].map((t) => t.arraySync() as number[][][][]);
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < H; i++) {
        for (let j = 0; j < W; j++) {
          for (let c = 0; c < C; c++) {
            let sum = 0;
            for (let a = 0; a < sh; a++) {
              for (let b = 0; b < sw; b++) {
                expect(yv[n][i * sh + a][j * sw + b][c]).toBe(xv[n][i][j][c]);
                sum += dyv[n][i * sh + a][j * sw + b][c];
              }
            }
            expect(dxv[n][i][j][c], `dx[${n}, ${i}, ${j}, ${c}]`).toBeCloseTo(sum, 5);
          }
        }
      }
    }
    tf.dispose([x, dy, y, dx]);
  });

  it('is deterministic in its seed and rejects bad sizes with a clear error', () => {
    const weights = (seed: number) => {
      const decoder = buildConvDecoder({ latentDim: 3, imageShape: [8, 8, 1], width: 2, seed });
      const out = decoder.model.getWeights().map((w) => Array.from(w.dataSync()));
      decoder.model.dispose();
      return out;
    };
    expect(weights(3)).toEqual(weights(3));
    expect(weights(3)).not.toEqual(weights(4));
    expect(() => buildConvDecoder({ latentDim: 0, imageShape: [8, 8, 1], width: 2, seed: 1 })).toThrow(
      /positive integers, got latentDim 0/,
    );
    expect(() => buildConvDecoder({ latentDim: 2, imageShape: [8, 8, 1], width: 1.5, seed: 1 })).toThrow(
      /width 1\.5/,
    );
  });
});
