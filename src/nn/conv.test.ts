import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff } from '../kernels/conv_testing';
import { conv2d } from './conv';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

/** A layer's output and the gradient of Σ y·r with respect to its kernel, with the kernel set to `kernel`. */
function run(layer: tf.layers.Layer, x: tf.Tensor4D, kernel: tf.Tensor, r: tf.Tensor) {
  layer.build(x.shape);
  layer.setWeights([kernel]);
  const y = layer.apply(x) as tf.Tensor;
  const { value, grads } = tf.variableGrads(
    () => tf.sum(tf.mul(layer.apply(x) as tf.Tensor, r)) as tf.Scalar,
    [layer.trainableWeights[0].read() as tf.Variable],
  );
  const out = { y: y.dataSync().slice(), grad: Object.values(grads)[0].dataSync().slice() };
  tf.dispose([y, value, ...Object.values(grads)]);
  return out;
}

describe('conv2d (the project layer)', () => {
  it.each([
    { strides: 1, padding: 'same' as const, kernelSize: 3 },
    { strides: 2, padding: 'same' as const, kernelSize: 3 },
    { strides: 2, padding: 'valid' as const, kernelSize: 1 },
  ])('%o: the same output and filter gradient as tfjs-layers', (args) => {
    const x = tf.randomUniform([2, 9, 8, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
    const kernel = tf.randomUniform([args.kernelSize, args.kernelSize, 3, 8], -1, 1, 'float32', 2);
    const config = { filters: 8, useBias: false, ...args };
    const shape = (tf.layers.conv2d(config).computeOutputShape(x.shape) as number[]).map((d) => d);
    const r = tf.randomUniform(shape, -1, 1, 'float32', 3);
    const ours = run(conv2d(config), x, kernel, r);
    const stock = run(tf.layers.conv2d(config), x, kernel, r);
    expect(maxAbsDiff(ours.y, stock.y)).toBeLessThan(1e-5);
    expect(maxAbsDiff(ours.grad, stock.grad)).toBeLessThan(1e-4);
    expect(Math.max(...Array.from(stock.grad, Math.abs))).toBeGreaterThan(0.1);
    tf.dispose([x, kernel, r]);
  });

  it('computes no input gradient for an input that needs none (the images), and one where it does', async () => {
    const x = tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 4) as tf.Tensor4D;
    const kernelsOf = async (f: () => void) => (await tf.profile(f)).kernels.map((k) => k.name);
    const weightGradients = (layer: tf.layers.Layer) =>
      kernelsOf(() => {
        const { value, grads } = tf.variableGrads(
          () => tf.sum(layer.apply(x) as tf.Tensor) as tf.Scalar,
          [layer.trainableWeights[0].read() as tf.Variable],
        );
        tf.dispose([value, ...Object.values(grads)]);
      });
    const config = { filters: 8, kernelSize: 3, padding: 'same' as const, useBias: false };
    const layer = conv2d(config);
    layer.build(x.shape);
    const onlyWeights = await weightGradients(layer);
    expect(onlyWeights).toContain('Conv2DBackpropFilter');
    expect(onlyWeights).not.toContain('Conv2DBackpropInput');
    const withInput = await kernelsOf(() => {
      const dx = tf.grad((input: tf.Tensor) => tf.sum(layer.apply(input) as tf.Tensor))(x);
      dx.dispose();
    });
    expect(withInput).toContain('Conv2DBackpropInput');
    // the stock layer's fused op computes both, whatever is needed
    const stock = tf.layers.conv2d(config);
    stock.build(x.shape);
    expect(await weightGradients(stock)).toContain('Conv2DBackpropInput');
    x.dispose();
  });
});
