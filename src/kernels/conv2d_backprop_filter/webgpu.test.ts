import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { installedKernels, installKernels } from '../install';
import { relativeError, useNodeWebGPU } from '../webgpu/testing';
import { filterGradientSplits } from './webgpu';

// Both WebGPU convolution gradients (this folder's and conv2d_backprop_input/webgpu.ts): tf.grads of a conv runs
// both. Dawn on SwiftShader runs shaders on the CPU, ~1000x slower than a GPU: tiny shapes only.
const unavailable = await useNodeWebGPU();
if (unavailable) console.warn(`skipping the WebGPU kernel tests: ${unavailable}`);

afterAll(async () => {
  installKernels('webgpu', { kernels: 'stock' });
  await tf.setBackend('cpu');
});

interface ConvCase {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  stride: number;
  pad: 'same' | 'valid';
}

const CASES: ConvCase[] = [
  { name: '3x3 stem, 3 input channels', x: [2, 7, 7, 3], filter: [3, 3, 3, 5], stride: 1, pad: 'same' },
  { name: '3x3 stride 2, ragged tiles', x: [3, 8, 8, 16], filter: [3, 3, 16, 20], stride: 2, pad: 'same' },
  {
    name: '1x1 stride-2 shortcut, 70 outputs (two column tiles)',
    x: [2, 9, 9, 4],
    filter: [1, 1, 4, 70],
    stride: 2,
    pad: 'valid',
  },
  {
    name: '65 input channels (two row tiles), valid padding',
    x: [2, 6, 6, 65],
    filter: [3, 3, 65, 3],
    stride: 1,
    pad: 'valid',
  },
  {
    name: 'odd size, stride 2, asymmetric same padding',
    x: [2, 9, 11, 6],
    filter: [3, 3, 6, 7],
    stride: 2,
    pad: 'same',
  },
  // stride 3 with a 5x5 filter: 9 stride-phase classes with 2 or 1 taps per axis in the input gradient
  {
    name: '5x5 stride 3, nine phase classes',
    x: [2, 10, 10, 4],
    filter: [5, 5, 4, 6],
    stride: 3,
    pad: 'same',
  },
  // 2 x 32 x 32 = 2048 output pixels: the filter gradient splits its reduction (split-K + summing pass)
  {
    name: 'split-K filter gradient over 2048 pixels',
    x: [2, 32, 32, 3],
    filter: [3, 3, 3, 8],
    stride: 1,
    pad: 'same',
  },
];

const TOLERANCE = 1e-4;

/** dx and dW of sum(conv(x, w) * r) for a fixed random r: exercises both backprop kernels with a non-uniform dy. */
function convGradients(c: ConvCase): tf.Tensor[] {
  return tf.tidy(() => {
    const x = tf.randomNormal(c.x, 0, 1, 'float32', 1);
    const w = tf.randomNormal(c.filter, 0, 1, 'float32', 2);
    const loss = (a: tf.Tensor, b: tf.Tensor) => {
      const y = tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad);
      return tf.sum(tf.mul(y, tf.randomNormal(y.shape, 0, 1, 'float32', 3)));
    };
    return tf.grads(loss)([x, w]);
  });
}

describe.skipIf(unavailable !== null)(
  'project WebGPU convolution gradients vs the stock tfjs kernels',
  () => {
    it.each(CASES)('$name: dx and dW match to 1e-4', async (c) => {
      installKernels('webgpu', { kernels: 'stock' });
      const [stockDx, stockDw] = convGradients(c);
      installKernels('webgpu');
      const before = tf.memory().numTensors;
      const [dx, dw] = convGradients(c);
      expect(tf.memory().numTensors - before).toBe(2);
      expect(await relativeError(dx, stockDx)).toBeLessThan(TOLERANCE);
      expect(await relativeError(dw, stockDw)).toBeLessThan(TOLERANCE);
      // a wrong kernel would not just be imprecise: the gradients are O(1..100) here
      expect(Math.max(...(await stockDw.abs().max().data()))).toBeGreaterThan(1);
      tf.dispose([stockDx, stockDw, dx, dw]);
    });

    it('the split-K case really splits, and the small cases do not', () => {
      const splitCase = CASES.find((c) => c.name.startsWith('split-K'))!;
      const [n, h, , c] = splitCase.x;
      const [fh, fw, , o] = splitCase.filter;
      expect(filterGradientSplits(fh * fw * c, o, n * h * h)).toBeGreaterThan(1);
      expect(filterGradientSplits(3 * 3 * 3, 5, 2 * 7 * 7)).toBe(1);
    });

    it('keeps the stock kernel for NCHW (the project kernels are NHWC only)', async () => {
      installKernels('webgpu');
      const x = tf.randomNormal([2, 3, 6, 6], 0, 1, 'float32', 4);
      const dy = tf.randomNormal([2, 4, 6, 6], 0, 1, 'float32', 5);
      const attrs = {
        strides: [1, 1],
        pad: 'same',
        dataFormat: 'NCHW',
        dimRoundingMode: undefined,
        filterShape: [3, 3, 3, 4],
      };
      const ours = tf
        .engine()
        .runKernel(tf.Conv2DBackpropFilter, { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
      installKernels('webgpu', { kernels: 'stock' });
      const stock = tf
        .engine()
        .runKernel(tf.Conv2DBackpropFilter, { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
      expect(await relativeError(ours, stock)).toBe(0);
      tf.dispose([x, dy, ours, stock]);
    });

    it('installKernels swaps the kernels in and restores the stock ones exactly', () => {
      installKernels('webgpu', { kernels: 'stock' });
      const stock = tf.getKernel(tf.Conv2DBackpropInput, 'webgpu')?.kernelFunc;
      installKernels('webgpu');
      installKernels('webgpu'); // idempotent
      expect(installedKernels('webgpu')).toContain(tf.Conv2DBackpropInput);
      expect(tf.getKernel(tf.Conv2DBackpropInput, 'webgpu')?.kernelFunc).not.toBe(stock);
      installKernels('webgpu', { kernels: 'stock' });
      expect(installedKernels('webgpu')).toEqual([]);
      expect(tf.getKernel(tf.Conv2DBackpropInput, 'webgpu')?.kernelFunc).toBe(stock);
    });
  },
);
