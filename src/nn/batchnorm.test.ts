import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff } from '../kernels/conv_testing';
import { installKernels } from '../kernels/install';
import { simdKernelCalls } from '../kernels/wasm/runtime';
import { batchNormalization } from './batchnorm';

afterAll(async () => {
  installKernels('wasm', { kernels: 'stock', gradients: false });
  await tf.setBackend('cpu');
});

/**
 * One training step of a BatchNorm layer (the project's or tfjs-layers' own) on x, with weights copied in:
 * the output, the gradients of Σ y·w (a fixed weighting, so dx is not trivially zero) with respect to x, gamma and
 * beta, and the moving mean and variance after the step.
 */
function trainingStep(layer: tf.layers.Layer, x: tf.Tensor, seed: number) {
  const C = x.shape[x.rank - 1];
  layer.build(x.shape);
  layer.setWeights([
    tf.randomUniform([C], 0.5, 1.5, 'float32', seed),
    tf.randomUniform([C], -0.5, 0.5, 'float32', seed + 1),
    tf.randomUniform([C], -0.2, 0.2, 'float32', seed + 2),
    tf.randomUniform([C], 0.5, 2, 'float32', seed + 3),
  ]);
  const weighting = tf.randomUniform(x.shape, -1, 1, 'float32', seed + 4);
  const [gamma, beta] = layer.trainableWeights.map((w) => w.read() as tf.Variable);
  let y: Float32Array | null = null;
  const dx = tf.grad((input: tf.Tensor) => {
    const out = layer.apply(input, { training: true }) as tf.Tensor;
    y = out.dataSync() as Float32Array;
    return tf.sum(tf.mul(out, weighting));
  })(x);
  // the layer reads its own variables: their gradients through tf.variableGrads
  const { grads: variableGrads } = tf.variableGrads(() => {
    const out = layer.apply(x, { training: true }) as tf.Tensor;
    return tf.sum(tf.mul(out, weighting)) as tf.Scalar;
  }, [gamma, beta]);
  const result = {
    y: y!,
    dx: dx.dataSync().slice(),
    dgamma: variableGrads[gamma.name].dataSync().slice(),
    dbeta: variableGrads[beta.name].dataSync().slice(),
    moving: layer
      .getWeights()
      .slice(2)
      .map((w) => w.dataSync().slice()),
  };
  tf.dispose([weighting, dx, ...Object.values(variableGrads)]);
  return result;
}

const SHAPES = [
  [8, 6, 6, 16], // conv activations, channels in multiples of 4 (the SIMD kernels on wasm)
  [6, 5, 5, 6], // 6 channels: the JavaScript loops on wasm
  [64, 32], // the projector's [N, D]
];

describe('batchNormalization (the project layer)', () => {
  it.each((['cpu', 'wasm'] as const).flatMap((backend) => SHAPES.map((shape) => [backend, shape] as const)))(
    'on %s, %j: the same output, gradients and moving statistics as tfjs-layers',
    async (backend, shape) => {
      await tf.setBackend(backend);
      if (backend === 'wasm') installKernels('wasm', { gradients: false });
      const x = tf.randomUniform(shape, -2, 3, 'float32', 7);
      const args = { momentum: 0.9, epsilon: 1e-5 };
      const calls = { ...simdKernelCalls };
      const ours = trainingStep(batchNormalization(args), x, 11);
      const stock = trainingStep(tf.layers.batchNormalization(args), x, 11);
      expect(maxAbsDiff(ours.y, stock.y)).toBeLessThan(1e-5);
      // the gradient through the batch statistics is there: dx is not just dy·k·γ
      expect(Math.max(...Array.from(stock.dx, Math.abs))).toBeGreaterThan(0.05);
      expect(maxAbsDiff(ours.dx, stock.dx)).toBeLessThan(1e-4);
      expect(maxAbsDiff(ours.dgamma, stock.dgamma)).toBeLessThan(1e-3);
      expect(maxAbsDiff(ours.dbeta, stock.dbeta)).toBeLessThan(1e-3);
      expect(maxAbsDiff(ours.moving[0], stock.moving[0])).toBeLessThan(1e-6);
      expect(maxAbsDiff(ours.moving[1], stock.moving[1])).toBeLessThan(1e-5);
      if (backend === 'wasm' && shape[shape.length - 1] % 4 === 0 && x.size >= 4096) {
        // the SIMD kernels ran (twice each: tf.grads and tf.variableGrads)
        expect((simdKernelCalls.bnSums ?? 0) - (calls.bnSums ?? 0)).toBe(2);
        expect((simdKernelCalls.bnDx ?? 0) - (calls.bnDx ?? 0)).toBeGreaterThanOrEqual(1);
        // and the batch statistics (one per training-mode apply: tf.grad, tf.variableGrads)
        expect((simdKernelCalls.moments ?? 0) - (calls.moments ?? 0)).toBe(2);
      }
      x.dispose();
    },
  );

  it('runs the stock layer for inference, and its training step leaks no tensors', async () => {
    await tf.setBackend('cpu');
    const layer = batchNormalization({ momentum: 0.9, epsilon: 1e-5 });
    const x = tf.randomUniform([4, 3, 3, 8], -1, 1, 'float32', 3);
    layer.apply(x, { training: true }); // builds the weights
    const before = tf.memory().numTensors;
    const y = layer.apply(x, { training: true }) as tf.Tensor;
    expect(tf.memory().numTensors).toBe(before + 1);
    const inference = layer.apply(x) as tf.Tensor;
    const [gamma, beta, movingMean, movingVariance] = layer.getWeights();
    const expected = tf.batchNorm(x, movingMean, movingVariance, beta, gamma, 1e-5);
    expect(maxAbsDiff(await inference.data(), await expected.data())).toBeLessThan(1e-6);
    expect(layer.getClassName()).toBe('BatchNormalization');
    tf.dispose([x, y, inference, expected]);
  });
});
