import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, type ConvCase, stridesOf } from '../conv_testing';
import { installKernels } from '../install';
import { winogradFilter, winogradFits } from '../wasm/winograd';
import { conv2dSimd } from './wasm';
import { simdKernelCalls } from '../wasm/runtime';

// The stock cpu kernels are the reference.
const stockCpuConv = tf.getKernel(tf.FusedConv2D, 'cpu')!.kernelFunc;
const stockCpuInputGradient = tf.getKernel(tf.Conv2DBackpropInput, 'cpu')!.kernelFunc;

/**
 * Geometries the SIMD convolution takes (output channels in multiples of 8, outputs at least 4 wide): every
 * padding form, strides 1-3, odd/even sizes and filters, 1x1 shortcuts, an RGB stem (channels zero-padded to 4),
 * widths that are not a multiple of the 4-pixel tile (the last tile overlaps), explicit pads wider than the filter.
 */
const CASES: ConvCase[] = [
  { x: [2, 6, 6, 4], filter: [3, 3, 4, 8], stride: 1, pad: 'same' },
  { x: [2, 6, 7, 4], filter: [3, 3, 4, 8], stride: 1, pad: 'valid' }, // 5 wide: one overlapping tile
  { x: [3, 8, 8, 3], filter: [3, 3, 3, 16], stride: 1, pad: 'same' }, // the RGB stem
  { x: [2, 9, 11, 2], filter: [3, 3, 2, 8], stride: 2, pad: 'same' },
  { x: [3, 8, 8, 8], filter: [3, 3, 8, 16], stride: 2, pad: 'same' }, // even size: 0 rows on top, 1 below
  { x: [2, 8, 8, 12], filter: [1, 1, 12, 24], stride: 2, pad: 'same' }, // projection shortcut
  { x: [2, 9, 9, 4], filter: [1, 1, 4, 8], stride: 1, pad: 'valid' },
  { x: [1, 9, 9, 4], filter: [5, 3, 4, 8], stride: 1, pad: 'same' }, // non-square filter
  { x: [1, 9, 14, 4], filter: [2, 4, 4, 8], stride: [1, 3], pad: 'same' }, // even filter, unequal strides
  { x: [2, 5, 5, 4], filter: [3, 3, 4, 8], stride: 1, pad: 3 }, // pad wider than the filter
  {
    x: [1, 4, 6, 4],
    filter: [3, 3, 4, 8],
    stride: 1,
    pad: [
      [0, 0],
      [3, 0],
      [1, 2],
      [0, 0],
    ],
  },
  { x: [1, 14, 16, 5], filter: [3, 5, 5, 8], stride: 3, pad: 'same' }, // stride 3, 5 channels
  {
    // 7 columns of padding on the left of a 1-wide image, stride 2: every output column reads padding only
    x: [1, 6, 1, 4],
    filter: [1, 1, 4, 8],
    stride: [1, 2],
    pad: [
      [0, 0],
      [0, 0],
      [7, 0],
      [0, 0],
    ],
  },
  { x: [2, 8, 8, 32], filter: [3, 3, 32, 64], stride: 1, pad: 1 },
];

const ALL_PADDING = CASES.findIndex((c) => c.x[2] === 1);

/** Inputs (uniform in [-1, 1)) and the stock cpu kernel's output for `activation`, with or without a bias. */
async function reference(c: ConvCase, seed: number, activation: 'linear' | 'relu', withBias: boolean) {
  await tf.setBackend('cpu');
  const x = tf.randomUniform(c.x, -1, 1, 'float32', seed);
  const filter = tf.randomUniform(c.filter, -1, 1, 'float32', seed + 1);
  const bias = withBias ? tf.randomUniform([c.filter[3]], -1, 1, 'float32', seed + 2) : undefined;
  const attrs = { strides: stridesOf(c), pad: c.pad, dataFormat: 'NHWC', dilations: [1, 1], activation };
  const expected = tf.engine().makeTensorFromTensorInfo(
    stockCpuConv({
      inputs: { x, filter, ...(bias ? { bias } : {}) },
      backend: tf.backend(),
      attrs: attrs as unknown as tf.NamedAttrMap,
    }) as tf.TensorInfo,
  );
  const out = {
    x: await x.data(),
    filter: await filter.data(),
    bias: bias ? await bias.data() : undefined,
    attrs,
    shape: expected.shape,
    expected: await expected.data(),
  };
  tf.dispose([x, filter, expected, ...(bias ? [bias] : [])]);
  return out;
}

afterAll(async () => {
  installKernels('wasm', { kernels: 'stock' });
  await tf.setBackend('cpu');
});

describe('conv2dSimd', () => {
  const runs = CASES.flatMap((c, i) => [[i, 'linear', false, c] as const, [i, 'relu', true, c] as const]);
  it.each(runs)(
    'case %i (%s, bias %s) matches the stock cpu kernel to 1e-4',
    async (i, activation, withBias, c) => {
      const ref = await reference(c, 500 + 10 * i, activation, withBias);
      // (the all-padding case is non-zero through its bias only)
      if (withBias || i !== ALL_PADDING)
        expect(Math.max(...Array.from(ref.expected, Math.abs))).toBeGreaterThan(0.5);
      if (activation === 'relu')
        expect(Array.from(ref.expected).filter((v) => v === 0).length).toBeGreaterThan(0);
      await tf.setBackend('wasm');
      const x = tf.tensor(ref.x, c.x);
      const filter = tf.tensor(ref.filter, c.filter);
      const bias = ref.bias ? tf.tensor(ref.bias, [c.filter[3]]) : undefined;
      const backend = tf.backend();
      const before = backend.numDataIds();
      const info = conv2dSimd({
        inputs: { x, filter, ...(bias ? { bias } : {}) },
        backend,
        attrs: ref.attrs as unknown as tf.NamedAttrMap,
      });
      expect(info).not.toBeNull();
      expect(info!.shape).toEqual(ref.shape);
      expect(backend.numDataIds()).toBe(before + 1); // the output and nothing else
      const out = tf.engine().makeTensorFromTensorInfo(info!);
      expect(maxAbsDiff(await out.data(), ref.expected)).toBeLessThan(1e-4);
      tf.dispose([x, filter, out, ...(bias ? [bias] : [])]);
    },
  );

  it('leaves what it does not handle to the stock kernel (returns null)', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend();
    const attempt = (
      xShape: number[],
      filterShape: number[],
      attrs: Record<string, unknown> = {},
      extra: Record<string, number[]> = {},
    ) => {
      const x = tf.ones(xShape);
      const filter = tf.ones(filterShape);
      const more = Object.fromEntries(Object.entries(extra).map(([k, shape]) => [k, tf.ones(shape)]));
      try {
        const all = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dilations: [1, 1], ...attrs };
        const out = conv2dSimd({
          inputs: { x, filter, ...more },
          backend,
          attrs: all as unknown as tf.NamedAttrMap,
        });
        if (out != null) backend.disposeData(out.dataId);
        return out == null ? null : out.shape;
      } finally {
        tf.dispose([x, filter, ...Object.values(more)]);
      }
    };
    expect(attempt([1, 6, 6, 4], [3, 3, 4, 8])).toEqual([1, 6, 6, 8]);
    expect(attempt([1, 6, 6, 4], [3, 3, 4, 12])).toBeNull(); // 12 outputs: not a multiple of 8
    expect(attempt([1, 6, 3, 4], [3, 3, 4, 8])).toBeNull(); // 3 wide: narrower than the tile
    expect(attempt([1, 6, 6, 4], [3, 3, 4, 8], { dilations: [2, 2] })).toBeNull();
    expect(attempt([1, 4, 6, 6], [3, 3, 4, 8], { dataFormat: 'NCHW' })).toBeNull();
    expect(attempt([1, 6, 6, 4], [3, 3, 4, 8], { activation: 'elu' })).toBeNull();
    expect(
      attempt([1, 6, 6, 4], [3, 3, 4, 8], { activation: 'prelu' }, { preluActivationWeights: [8] }),
    ).toBeNull();
    expect(attempt([1, 6, 6, 4], [3, 3, 4, 8], {}, { bias: [1] })).toBeNull(); // a scalar bias
  });

  it('is what training runs while the speed kernels are on, forward and input gradient, not with the stock kernels', async () => {
    const c: ConvCase = { x: [2, 8, 8, 8], filter: [3, 3, 8, 16], stride: 1, pad: 'same' };
    await tf.setBackend('cpu');
    const x0 = tf.randomUniform(c.x, -1, 1, 'float32', 9);
    const w0 = tf.randomUniform(c.filter, -1, 1, 'float32', 10);
    const dy0 = tf.randomUniform([2, 8, 8, 16], -1, 1, 'float32', 11);
    const values = { x: await x0.data(), w: await w0.data(), dy: await dy0.data() };
    const expected = {
      y: await tf.conv2d(x0 as tf.Tensor4D, w0 as tf.Tensor4D, 1, 'same').data(),
      dx: await tf
        .engine()
        .makeTensorFromTensorInfo(
          stockCpuInputGradient({
            inputs: { dy: dy0, filter: w0 },
            backend: tf.backend(),
            attrs: {
              strides: [1, 1],
              pad: 'same',
              dataFormat: 'NHWC',
              inputShape: c.x,
            } as unknown as tf.NamedAttrMap,
          }) as tf.TensorInfo,
        )
        .data(),
    };
    await tf.setBackend('wasm');
    const both = async () => {
      const x = tf.tensor(values.x, c.x) as tf.Tensor4D;
      const w = tf.tensor(values.w, c.filter) as tf.Tensor4D;
      const dy = tf.tensor(values.dy, [2, 8, 8, 16]);
      const y = tf.conv2d(x, w, 1, 'same');
      const dx = tf.grad((input) => tf.sum(tf.mul(tf.conv2d(input as tf.Tensor4D, w, 1, 'same'), dy)))(x);
      const out = { y: await y.data(), dx: await dx.data() };
      tf.dispose([x, w, dy, y, dx]);
      return out;
    };
    installKernels('wasm');
    let calls = simdKernelCalls.conv ?? 0;
    const inputGradCalls = () => (simdKernelCalls.inputGrad ?? 0) + (simdKernelCalls.inputGradWinograd ?? 0);
    let gradCalls = inputGradCalls();
    let got = await both();
    expect(maxAbsDiff(got.y, expected.y)).toBeLessThan(1e-4);
    expect(maxAbsDiff(got.dx, expected.dx)).toBeLessThan(1e-4);
    // the forward conv and the forward pass inside tf.grad; the input gradient in its own kernel
    expect(simdKernelCalls.conv).toBe(calls + 2);
    expect(inputGradCalls()).toBe(gradCalls + 1);
    installKernels('wasm', { kernels: 'stock' });
    calls = simdKernelCalls.conv ?? 0;
    gradCalls = inputGradCalls();
    got = await both();
    expect(maxAbsDiff(got.y, expected.y)).toBeLessThan(1e-4);
    expect(maxAbsDiff(got.dx, expected.dx)).toBeLessThan(1e-4);
    expect(simdKernelCalls.conv).toBe(calls);
    expect(inputGradCalls()).toBe(gradCalls);
  });
});

describe('Winograd F(2x2, 3x3)', () => {
  it('takes 3x3 stride-1 convolutions with an even output at least 8 wide and enough channels, nothing else', () => {
    expect(winogradFits(3, 3, 1, 1, 32, 32, 32, 32)).toBe(true);
    expect(winogradFits(3, 3, 1, 1, 8, 8, 16, 8)).toBe(true);
    expect(winogradFits(3, 3, 2, 2, 16, 16, 32, 32)).toBe(false); // strided
    expect(winogradFits(1, 1, 1, 1, 16, 16, 32, 32)).toBe(false); // 1x1
    expect(winogradFits(3, 3, 1, 1, 15, 16, 32, 32)).toBe(false); // odd rows
    expect(winogradFits(3, 3, 1, 1, 16, 6, 32, 32)).toBe(false); // 6 wide: 3 tiles
    expect(winogradFits(3, 3, 1, 1, 16, 16, 8, 32)).toBe(false); // 8 input channels
    expect(winogradFits(3, 3, 1, 1, 16, 16, 18, 32)).toBe(false); // not a multiple of 4
    expect(winogradFits(3, 3, 1, 1, 16, 16, 32, 12)).toBe(false); // 12 outputs
  });

  it('transforms a filter as G·g·Gᵀ', () => {
    // one input and one output channel: g = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    const u = winogradFilter([1, 2, 3, 4, 5, 6, 7, 8, 9], 1, 1);
    const G = [
      [1, 0, 0],
      [0.5, 0.5, 0.5],
      [0.5, -0.5, 0.5],
      [0, 0, 1],
    ];
    const g = [
      [1, 2, 3],
      [4, 5, 6],
      [7, 8, 9],
    ];
    for (let a = 0; a < 4; a++) {
      for (let b = 0; b < 4; b++) {
        let expected = 0;
        for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) expected += G[a][i] * g[i][j] * G[b][j];
        expect(u[4 * a + b]).toBeCloseTo(expected, 6);
      }
    }
  });

  // 'same' (a padded copy), 'valid' (read in place), blocks of 64 tiles: 16x16 tiles in 4 blocks, 10 tile rows of
  // 8 in a block of 8 rows and one of 2, an 8-wide output (4 tiles), many channels, blocks spanning images
  const WINOGRAD_CASES: ConvCase[] = [
    { x: [2, 32, 32, 16], filter: [3, 3, 16, 8], stride: 1, pad: 'same' },
    { x: [3, 22, 18, 16], filter: [3, 3, 16, 16], stride: 1, pad: 'valid' },
    { x: [2, 20, 16, 20], filter: [3, 3, 20, 24], stride: 1, pad: 'same' },
    { x: [2, 8, 8, 128], filter: [3, 3, 128, 128], stride: 1, pad: 1 },
    { x: [5, 8, 8, 16], filter: [3, 3, 16, 16], stride: 1, pad: 'same' }, // blocks of 16 tile rows across images
  ];
  it.each(WINOGRAD_CASES.map((c, i) => [i, c] as const))(
    'case %i runs in the Winograd kernel and matches the stock cpu kernel to 1e-4',
    async (i, c) => {
      const ref = await reference(c, 900 + 10 * i, 'linear', false);
      expect(Math.max(...Array.from(ref.expected, Math.abs))).toBeGreaterThan(0.5);
      await tf.setBackend('wasm');
      const x = tf.tensor(ref.x, c.x);
      const filter = tf.tensor(ref.filter, c.filter);
      const backend = tf.backend();
      const before = backend.numDataIds();
      const calls = simdKernelCalls.winograd ?? 0;
      const info = conv2dSimd({
        inputs: { x, filter },
        backend,
        attrs: ref.attrs as unknown as tf.NamedAttrMap,
      });
      expect(simdKernelCalls.winograd).toBe(calls + 1);
      expect(info!.shape).toEqual(ref.shape);
      expect(backend.numDataIds()).toBe(before + 1);
      const out = tf.engine().makeTensorFromTensorInfo(info!);
      expect(maxAbsDiff(await out.data(), ref.expected)).toBeLessThan(1e-4);
      tf.dispose([x, filter, out]);
    },
  );
});
