import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { installKernels } from '../install';
import { BATCHNORM_DX_KERNEL, BATCHNORM_GRAD_SUMS_KERNEL, batchNormTraining } from '../ops';
import { relativeError, useNodeWebGPU } from '../webgpu/testing';
import { batchNormGradSumsWebGPU } from './webgpu';

const unavailable = await useNodeWebGPU();
if (unavailable) console.warn(`skipping the WebGPU BatchNorm tests: ${unavailable}`);

afterAll(async () => {
  installKernels('webgpu', { kernels: 'stock' });
  await tf.setBackend('cpu');
});

function values(shape: number[], seed: number): tf.Tensor {
  return tf.randomNormal(shape, 0.5, 1, 'float32', seed);
}

describe.skipIf(unavailable !== null)('BatchNorm training kernels on WebGPU', () => {
  it('gives a BatchNorm training step the stock gradients', async () => {
    const x = values([4, 6, 6, 8], 3);
    const scale = values([8], 4);
    const offset = values([8], 5);
    const r = values([4, 6, 6, 8], 6);
    const loss = (input: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => {
      const { mean, variance } = tf.moments(input, [0, 1, 2]);
      return tf.sum(tf.mul(tf.batchNorm(input, mean, variance, o as tf.Tensor1D, s as tf.Tensor1D, 1e-3), r));
    };
    installKernels('webgpu');
    const profiled = await tf.profile(() => tf.grads(loss)([x, scale, offset]));
    const project = profiled.result as tf.Tensor[];
    // the lean gradient took the fused sums, and the forward moments the leading-axes Mean
    expect(profiled.kernels.map((k) => k.name)).toContain(BATCHNORM_GRAD_SUMS_KERNEL);
    installKernels('webgpu', { kernels: 'stock' });
    const stock = tf.grads(loss)([x, scale, offset]);
    for (const [i, g] of project.entries()) expect(await relativeError(g, stock[i])).toBeLessThan(1e-4);
    tf.dispose([x, scale, offset, r, ...project, ...stock]);
  });

  it('runs the project BatchNorm training op (batchNormTraining) in two kernels with the stock gradients', async () => {
    const x = values([4, 6, 6, 8], 13);
    const scale = values([8], 14);
    const offset = values([8], 15);
    const r = values([4, 6, 6, 8], 16);
    const stockLoss = (input: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => {
      const { mean, variance } = tf.moments(input, [0, 1, 2]);
      return tf.sum(tf.mul(tf.batchNorm(input, mean, variance, o as tf.Tensor1D, s as tf.Tensor1D, 1e-3), r));
    };
    const projectLoss = (input: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => {
      const { y, mean, variance } = batchNormTraining(input, s, o, 1e-3);
      tf.dispose([mean, variance]);
      return tf.sum(tf.mul(y, r));
    };
    installKernels('webgpu');
    const profiled = await tf.profile(() => tf.grads(projectLoss)([x, scale, offset]));
    const project = profiled.result as tf.Tensor[];
    const names = profiled.kernels.map((k) => k.name);
    expect(names).toContain(BATCHNORM_GRAD_SUMS_KERNEL);
    expect(names).toContain(BATCHNORM_DX_KERNEL);
    installKernels('webgpu', { kernels: 'stock' });
    const stock = tf.grads(stockLoss)([x, scale, offset]);
    for (const [i, g] of project.entries()) expect(await relativeError(g, stock[i])).toBeLessThan(1e-4);
    tf.dispose([x, scale, offset, r, ...project, ...stock]);
  });

  it.each([
    [4, 6, 6, 8],
    [37, 5],
    [3000, 3],
  ])('fused BatchNorm gradient sums of %j match the ops', async (...shape) => {
    const dy = values(shape, 9);
    const x = values(shape, 10);
    const channels = shape[shape.length - 1];
    const mean = values([channels], 11);
    const axes = shape.slice(0, -1).map((_, axis) => axis);
    const expected = tf.stack([tf.sum(dy, axes), tf.sum(tf.mul(dy, tf.sub(x, mean)), axes)]);
    const backend = tf.backend();
    const before = backend.numDataIds();
    const info = batchNormGradSumsWebGPU({ inputs: { dy, x, mean }, backend });
    expect(backend.numDataIds()).toBe(before + 1);
    const actual = tf.engine().makeTensorFromTensorInfo(info);
    expect(actual.shape).toEqual([2, channels]);
    expect(await relativeError(actual, expected)).toBeLessThan(1e-5);
    tf.dispose([dy, x, mean, expected, actual]);
  });

  it('refuses BatchNorm gradient sums of mismatched shapes, naming them', () => {
    const dy = tf.zeros([4, 3]);
    const x = tf.zeros([4, 3]);
    const mean = tf.zeros([2]);
    expect(() => batchNormGradSumsWebGPU({ inputs: { dy, x, mean }, backend: tf.backend() })).toThrow(
      /needs dy and x of one shape \[\.\.\., C\] and mean \[C\]; got dy \[4, 3\], x \[4, 3\], mean \[2\]/,
    );
    tf.dispose([dy, x, mean]);
  });
});
