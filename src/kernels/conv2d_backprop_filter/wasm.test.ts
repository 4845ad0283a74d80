import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONV_CASES, maxAbsDiff, type ConvCase, stridesOf } from '../conv_testing';
import { installKernels } from '../install';
import { conv2dBackpropFilterSimd, tapRanges, validOutputRange } from './wasm';
import { simdKernelCalls } from '../wasm/runtime';

// The stock cpu kernel is the reference.
const stockCpuKernel = tf.getKernel(tf.Conv2DBackpropFilter, 'cpu')!.kernelFunc;

/** 3 rows of padding on top: filter row 0 never meets the image (a tap with nothing to add). */
const TOP_PADDED: ConvCase = {
  x: [1, 2, 4, 4],
  filter: [3, 3, 4, 8],
  stride: 1,
  pad: [
    [0, 0],
    [3, 0],
    [0, 2],
    [0, 0],
  ],
};

const DOWNSAMPLE: ConvCase = { x: [3, 7, 8, 8], filter: [3, 3, 8, 16], stride: 2, pad: 'same' };

/**
 * The shared geometries (channels 2-5: zero-padded to the tile) and more with channels the 4 x 8 tile takes as they
 * are, more than one tile wide.
 */
const SIMD_CASES: ConvCase[] = [
  ...CONV_CASES,
  { x: [2, 8, 8, 3], filter: [3, 3, 3, 32], stride: 1, pad: 'same' }, // the RGB stem
  { x: [2, 8, 8, 4], filter: [3, 3, 4, 12], stride: 1, pad: 'same' }, // 12 outputs: 1.5 tiles
  { x: [2, 6, 6, 4], filter: [3, 3, 4, 8], stride: 1, pad: 'same' },
  { x: [2, 6, 6, 4], filter: [3, 3, 4, 8], stride: 1, pad: 'valid' },
  DOWNSAMPLE,
  { x: [3, 8, 8, 4], filter: [3, 3, 4, 8], stride: 2, pad: 'same' }, // even size: 0 rows on top, 1 below
  { x: [2, 9, 9, 8], filter: [1, 1, 8, 8], stride: 2, pad: 'valid' }, // 1x1 shortcut
  { x: [2, 8, 8, 12], filter: [1, 1, 12, 24], stride: 2, pad: 'same' },
  { x: [1, 9, 7, 4], filter: [5, 3, 4, 8], stride: 2, pad: 'same' }, // non-square filter
  { x: [1, 9, 7, 4], filter: [2, 4, 4, 8], stride: [1, 3], pad: 'same' }, // even filter, unequal strides
  { x: [2, 5, 5, 4], filter: [3, 3, 4, 8], stride: 1, pad: 3 }, // pad wider than the filter
  TOP_PADDED,
  { x: [2, 3, 3, 4], filter: [3, 3, 4, 8], stride: 2, pad: 'valid' }, // 1x1 output
  { x: [2, 10, 11, 4], filter: [4, 4, 4, 8], stride: 2, pad: 'valid' },
  { x: [1, 11, 9, 4], filter: [3, 5, 4, 8], stride: 3, pad: 'same' }, // stride 3
  { x: [4, 16, 16, 16], filter: [3, 3, 16, 32], stride: 2, pad: 'same' }, // a ResNet downsampling block
  { x: [2, 8, 8, 32], filter: [3, 3, 32, 64], stride: 1, pad: 1 },
];

function outputShape(c: ConvCase): number[] {
  return tf.tidy(
    () =>
      tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(c.filter) as tf.Tensor4D, stridesOf(c), c.pad).shape,
  );
}

function attrsOf(c: ConvCase, dataFormat = 'NHWC') {
  return { strides: stridesOf(c), pad: c.pad, dataFormat, dimRoundingMode: undefined, filterShape: c.filter };
}

/** Inputs (uniform in [-1, 1)) and the stock cpu kernel's gradient. */
async function reference(c: ConvCase, seed: number) {
  await tf.setBackend('cpu');
  const x = tf.randomUniform(c.x, -1, 1, 'float32', seed);
  const dy = tf.randomUniform(outputShape(c), -1, 1, 'float32', seed + 1);
  const expected = tf.engine().makeTensorFromTensorInfo(
    stockCpuKernel({
      inputs: { x, dy },
      backend: tf.backend(),
      attrs: attrsOf(c) as unknown as tf.NamedAttrMap,
    }) as tf.TensorInfo,
  );
  const out = { x: await x.data(), dy: await dy.data(), dyShape: dy.shape, expected: await expected.data() };
  tf.dispose([x, dy, expected]);
  return out;
}

beforeAll(async () => {
  await tf.setBackend('wasm');
});

afterAll(async () => {
  installKernels('wasm', { kernels: 'stock' });
  await tf.setBackend('cpu');
});

describe('validOutputRange / tapRanges', () => {
  it('keeps exactly the output pixels whose input pixel is inside the image', () => {
    // brute force over sizes, strides, taps and pads
    for (let inSize = 1; inSize <= 7; inSize++) {
      for (let stride = 1; stride <= 3; stride++) {
        for (let pad = 0; pad <= 4; pad++) {
          for (let k = 0; k < 5; k++) {
            const outSize = 6;
            const valid = [...Array(outSize).keys()].filter(
              (o) => o * stride + k - pad >= 0 && o * stride + k - pad < inSize,
            );
            const [first, count] = validOutputRange(inSize, outSize, stride, k, pad);
            expect([...Array(count).keys()].map((j) => first + j)).toEqual(valid);
          }
        }
      }
    }
  });

  it('drops taps that never meet the image', () => {
    const info = tf.backend_util.computeConv2DInfo([1, 2, 4, 4], [3, 3, 4, 8], 1, 1, TOP_PADDED.pad as never);
    const taps = tapRanges(info);
    expect(taps.some((t) => t.kh === 0)).toBe(false);
    expect(taps.length).toBe(6);
  });
});

describe('conv2dBackpropFilterSimd', () => {
  it.each(SIMD_CASES.map((c, i) => [i, c] as const))(
    'case %i matches the stock cpu kernel to 1e-4',
    async (i, c) => {
      const ref = await reference(c, 300 + 10 * i);
      expect(Math.max(...Array.from(ref.expected, Math.abs))).toBeGreaterThan(0.1);
      await tf.setBackend('wasm');
      const x = tf.tensor(ref.x, c.x);
      const dy = tf.tensor(ref.dy, ref.dyShape);
      const backend = tf.backend();
      const before = backend.numDataIds();
      const info = conv2dBackpropFilterSimd({
        inputs: { x, dy },
        backend,
        attrs: attrsOf(c) as unknown as tf.NamedAttrMap,
      });
      expect(info).not.toBeNull();
      expect(info!.shape).toEqual(c.filter);
      expect(backend.numDataIds()).toBe(before + 1); // the output and nothing else
      const grad = tf.engine().makeTensorFromTensorInfo(info!);
      expect(maxAbsDiff(await grad.data(), ref.expected)).toBeLessThan(1e-4);
      // a second call on the same inputs: the output starts from zero, not from an earlier result
      const again = tf.engine().makeTensorFromTensorInfo(
        conv2dBackpropFilterSimd({
          inputs: { x, dy },
          backend,
          attrs: attrsOf(c) as unknown as tf.NamedAttrMap,
        })!,
      );
      expect(maxAbsDiff(await again.data(), ref.expected)).toBeLessThan(1e-4);
      tf.dispose([x, dy, grad, again]);
    },
  );

  // 3x3 stride 1 with 16+ input channels: the Winograd form. Blocks of 64 tiles: one image per block; blocks
  // spanning images (3 images of 4 x 5 tiles in one block of 60); a last block shorter than the rest and starting
  // inside an image (5 images of 4 x 4 tiles: blocks of 16 tile rows and 4)
  const WINOGRAD_CASES: ConvCase[] = [
    { x: [2, 16, 16, 16], filter: [3, 3, 16, 8], stride: 1, pad: 'same' },
    { x: [3, 10, 12, 20], filter: [3, 3, 20, 16], stride: 1, pad: 'valid' },
    { x: [5, 8, 8, 16], filter: [3, 3, 16, 16], stride: 1, pad: 'same' },
    { x: [2, 8, 8, 64], filter: [3, 3, 64, 128], stride: 1, pad: 1 },
  ];
  it.each(WINOGRAD_CASES.map((c, i) => [i, c] as const))(
    'Winograd case %i runs in the Winograd kernel and matches the stock cpu kernel to 1e-4 (relative)',
    async (i, c) => {
      const ref = await reference(c, 600 + 10 * i);
      await tf.setBackend('wasm');
      const x = tf.tensor(ref.x, c.x);
      const dy = tf.tensor(ref.dy, ref.dyShape);
      const backend = tf.backend();
      const before = backend.numDataIds();
      const calls = simdKernelCalls.winogradFilterGrad ?? 0;
      const attrs = attrsOf(c) as unknown as tf.NamedAttrMap;
      const grad = tf
        .engine()
        .makeTensorFromTensorInfo(conv2dBackpropFilterSimd({ inputs: { x, dy }, backend, attrs })!);
      expect(simdKernelCalls.winogradFilterGrad).toBe(calls + 1);
      expect(backend.numDataIds()).toBe(before + 1);
      const scale = Math.max(1, ...Array.from(ref.expected, Math.abs));
      expect(scale).toBeGreaterThan(1);
      expect(maxAbsDiff(await grad.data(), ref.expected) / scale).toBeLessThan(1e-5);
      expect(maxAbsDiff(await grad.data(), ref.expected)).toBeLessThan(1e-4);
      tf.dispose([x, dy, grad]);
    },
  );

  it('leaves what it does not handle to the other paths (returns null)', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend();
    const run = (xShape: number[], dyShape: number[], dataFormat: string, dtype: tf.DataType) => {
      const c: ConvCase = { x: xShape as ConvCase['x'], filter: [3, 3, 4, 8], stride: 1, pad: 'same' };
      const x = tf.zeros(xShape, dtype);
      const dy = tf.zeros(dyShape, dtype);
      try {
        const attrs = attrsOf(c, dataFormat) as unknown as tf.NamedAttrMap;
        return conv2dBackpropFilterSimd({ inputs: { x, dy }, backend, attrs });
      } finally {
        tf.dispose([x, dy]);
      }
    };
    expect(run([2, 8, 8, 4], [2, 8, 8, 8], 'NHWC', 'float32')).not.toBeNull();
    expect(run([2, 4, 8, 8], [2, 8, 8, 8], 'NCHW', 'float32')).toBeNull();
    expect(run([2, 8, 8, 4], [2, 8, 8, 8], 'NHWC', 'int32')).toBeNull();
  });

  it('runs in training gradients while the speed kernels are on, not with the stock kernels', async () => {
    await tf.setBackend('wasm');
    const c = DOWNSAMPLE;
    const ref = await reference(c, 77);
    await tf.setBackend('wasm');
    const gradient = async () => {
      const x = tf.tensor(ref.x, c.x) as tf.Tensor4D;
      const dy = tf.tensor(ref.dy, ref.dyShape);
      const w = tf.zeros(c.filter) as tf.Tensor4D;
      const g = tf.grad((f) => tf.sum(tf.mul(tf.conv2d(x, f as tf.Tensor4D, stridesOf(c), c.pad), dy)))(w);
      const values = await g.data();
      tf.dispose([x, dy, w, g]);
      return values;
    };
    installKernels('wasm');
    const calls = simdKernelCalls.filterGrad ?? 0;
    expect(maxAbsDiff(await gradient(), ref.expected)).toBeLessThan(1e-4);
    expect(simdKernelCalls.filterGrad).toBe(calls + 1);
    // stock kernels: the required conv-based filter gradient, same values, no SIMD call
    installKernels('wasm', { kernels: 'stock' });
    expect(maxAbsDiff(await gradient(), ref.expected)).toBeLessThan(1e-4);
    expect(simdKernelCalls.filterGrad).toBe(calls + 1);
  });
});
