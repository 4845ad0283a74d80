import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { CONV_CASES, stridesOf, type ConvCase } from '../conv_testing';
import { conv2dWebGPU } from './webgpu';
import { installKernels } from '../install';
import { relativeError, useNodeWebGPU } from '../webgpu/testing';

const unavailable = await useNodeWebGPU();
if (unavailable) console.warn(`skipping the WebGPU forward convolution tests: ${unavailable}`);

afterAll(async () => {
  installKernels('webgpu', { kernels: 'stock' });
  await tf.setBackend('cpu');
});

/** The shared geometries with input channels rounded up to a multiple of 4 (the kernel's requirement). */
const withChannelsOf4 = (c: ConvCase): ConvCase => {
  const channels = Math.ceil(c.x[3] / 4) * 4;
  return {
    ...c,
    x: [c.x[0], c.x[1], c.x[2], channels],
    filter: [c.filter[0], c.filter[1], channels, c.filter[3]],
  };
};

const CASES: Array<ConvCase & { dilation?: number }> = [
  ...CONV_CASES.map(withChannelsOf4),
  { x: [2, 9, 9, 4], filter: [3, 3, 4, 5], stride: 1, pad: 'same', dilation: 2 },
  { x: [2, 8, 8, 8], filter: [3, 3, 8, 70], stride: 1, pad: 'same' }, // 70 outputs: two column tiles
];

const EPILOGUES = [
  { bias: false, activation: 'linear' },
  { bias: true, activation: 'linear' },
  { bias: true, activation: 'relu' },
  { bias: false, activation: 'relu' },
] as const;

describe.skipIf(unavailable !== null)('implicit-GEMM forward convolution on WebGPU', () => {
  it.each(CASES)('x $x, filter $filter, stride $stride, pad $pad, dilation $dilation', async (c) => {
    const x = tf.randomNormal(c.x, 0, 1, 'float32', 1) as tf.Tensor4D;
    const filter = tf.randomNormal(c.filter, 0, 1, 'float32', 2) as tf.Tensor4D;
    const bias = tf.randomNormal([c.filter[3]], 0, 1, 'float32', 3) as tf.Tensor1D;
    const dilations: [number, number] = [c.dilation ?? 1, c.dilation ?? 1];
    const strides = stridesOf(c);
    const backend = tf.backend();
    for (const { bias: withBias, activation } of EPILOGUES) {
      const conv = (input: tf.Tensor4D, w: tf.Tensor4D) =>
        tf.fused.conv2d({
          x: input,
          filter: w,
          strides,
          pad: c.pad,
          dilations,
          bias: withBias ? bias : undefined,
          activation,
        });
      installKernels('webgpu', { kernels: 'stock' });
      const stock = conv(x, filter);
      const before = backend.numDataIds();
      const info = conv2dWebGPU({
        inputs: withBias ? { x, filter, bias } : { x, filter },
        backend,
        attrs: {
          strides,
          pad: c.pad,
          dataFormat: 'NHWC',
          dilations,
          activation,
        } as unknown as tf.NamedAttrMap,
      });
      expect(info).not.toBeNull(); // the project kernel took it
      expect(backend.numDataIds()).toBe(before + 1);
      const project = tf.engine().makeTensorFromTensorInfo(info!);
      expect(project.shape).toEqual(stock.shape);
      expect(await relativeError(project, stock), `bias ${withBias}, ${activation}`).toBeLessThan(1e-4);
      tf.dispose([stock, project]);
    }
    if (c.dilation != null) {
      tf.dispose([x, filter, bias]);
      return; // tfjs has no conv2d gradient for dilations > 1
    }
    // and the training path: tf.conv2d under tf.grads, with every project kernel registered
    const upstream = tf.randomNormal(
      tf.conv2d(x, filter, strides, c.pad, 'NHWC', dilations).shape,
      0,
      1,
      'float32',
      4,
    );
    const loss = (input: tf.Tensor, w: tf.Tensor) =>
      tf.sum(
        tf.mul(
          tf.conv2d(input as tf.Tensor4D, w as tf.Tensor4D, strides, c.pad, 'NHWC', dilations),
          upstream,
        ),
      );
    const stockGrads = tf.grads(loss)([x, filter]);
    installKernels('webgpu');
    const profiled = await tf.profile(() => tf.grads(loss)([x, filter]));
    const grads = profiled.result as tf.Tensor[];
    expect(profiled.kernels.some((k) => k.name === 'Conv2D')).toBe(true);
    for (const [i, g] of grads.entries()) expect(await relativeError(g, stockGrads[i])).toBeLessThan(1e-4);
    tf.dispose([x, filter, bias, upstream, ...stockGrads, ...grads]);
  });

  it('leaves other activations, PReLU weights, NCHW and 3-channel inputs to the stock kernel', async () => {
    const x = tf.randomNormal([1, 5, 5, 4], 0, 1, 'float32', 5) as tf.Tensor4D;
    const filter = tf.randomNormal([3, 3, 4, 2], 0, 1, 'float32', 6) as tf.Tensor4D;
    const backend = tf.backend();
    const attrs = (extra: object) =>
      ({ strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1, ...extra }) as unknown as tf.NamedAttrMap;
    expect(conv2dWebGPU({ inputs: { x, filter }, backend, attrs: attrs({ activation: 'elu' }) })).toBeNull();
    expect(conv2dWebGPU({ inputs: { x, filter }, backend, attrs: attrs({ dataFormat: 'NCHW' }) })).toBeNull();
    const rgb = tf.randomNormal([1, 5, 5, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const rgbFilter = tf.randomNormal([3, 3, 3, 2], 0, 1, 'float32', 8) as tf.Tensor4D;
    expect(conv2dWebGPU({ inputs: { x: rgb, filter: rgbFilter }, backend, attrs: attrs({}) })).toBeNull();
    const alpha = tf.fill([2], 0.2);
    expect(
      conv2dWebGPU({
        inputs: { x, filter, preluActivationWeights: alpha },
        backend,
        attrs: attrs({ activation: 'prelu' }),
      }),
    ).toBeNull();
    installKernels('webgpu');
    const project = tf.fused.conv2d({ x, filter, strides: 1, pad: 'same', activation: 'elu' });
    installKernels('webgpu', { kernels: 'stock' });
    const stock = tf.fused.conv2d({ x, filter, strides: 1, pad: 'same', activation: 'elu' });
    expect(await relativeError(project, stock)).toBe(0);
    tf.dispose([x, filter, alpha, project, stock, rgb, rgbFilter]);
  });
});
