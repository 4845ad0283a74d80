import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { inputGradientAttrs, maxAbsDiff, stridesOf, type ConvCase } from '../conv_testing';
import { conv2dBackpropInputSimd, inputGradPhases } from './wasm';
import { simdKernelCalls } from '../wasm/runtime';

// The reference: the stock cpu kernel, a direct loop over the definition.
const stockCpuInputGradient = tf.getKernel(tf.Conv2DBackpropInput, 'cpu')!.kernelFunc;

/**
 * Geometries it takes (input channels in multiples of 8): every padding form, strides 1-3 and unequal strides,
 * odd/even sizes and filters, the 1x1 stride-2 shortcut (three of four phases have no tap: zeros), a filter
 * smaller than the stride (phases with no tap on one axis), pads wider than the filter, dy channels not a
 * multiple of 4 (the padded copy in JavaScript), phase widths not a multiple of the 4-pixel tile.
 */
const CASES: ConvCase[] = [
  { x: [2, 6, 6, 8], filter: [3, 3, 8, 4], stride: 1, pad: 'same' },
  { x: [2, 6, 7, 8], filter: [3, 3, 8, 5], stride: 1, pad: 'valid' },
  { x: [3, 16, 16, 8], filter: [3, 3, 8, 16], stride: 2, pad: 'same' }, // even size: 0 rows on top, 1 below
  { x: [2, 17, 15, 8], filter: [3, 3, 8, 12], stride: 2, pad: 'same' }, // odd sizes: 1 row on top
  { x: [2, 16, 16, 16], filter: [1, 1, 16, 32], stride: 2, pad: 'same' }, // projection shortcut
  { x: [2, 17, 17, 8], filter: [1, 1, 8, 16], stride: 2, pad: 'valid' },
  { x: [2, 10, 11, 8], filter: [4, 4, 8, 6], stride: 2, pad: 'valid' }, // even filter
  { x: [1, 17, 14, 8], filter: [5, 3, 8, 8], stride: 2, pad: 'same' }, // non-square filter
  { x: [1, 9, 25, 8], filter: [2, 4, 8, 3], stride: [1, 3], pad: 'same' }, // unequal strides
  { x: [1, 25, 26, 16], filter: [3, 5, 16, 8], stride: 3, pad: 'same' }, // stride 3
  { x: [1, 13, 13, 8], filter: [2, 2, 8, 8], stride: 3, pad: 'valid' }, // filter < stride: phases with no tap
  { x: [2, 8, 9, 8], filter: [3, 3, 8, 4], stride: 2, pad: 1 }, // PyTorch-style padding 1
  { x: [2, 5, 6, 8], filter: [3, 3, 8, 4], stride: 1, pad: 3 }, // pad wider than the filter
  {
    x: [2, 12, 12, 8],
    filter: [3, 3, 8, 4],
    stride: 2,
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  },
  { x: [2, 16, 16, 32], filter: [3, 3, 32, 64], stride: 2, pad: 'same' }, // a W2 downsampling layer, scaled down
  // stride 1 with 16+ dy channels: the Winograd form
  { x: [2, 16, 16, 8], filter: [3, 3, 8, 16], stride: 1, pad: 'same' },
  { x: [2, 12, 14, 16], filter: [3, 3, 16, 24], stride: 1, pad: 'valid' },
];
const WINOGRAD = new Set([CASES.length - 2, CASES.length - 1]);

const attrsOf = inputGradientAttrs;

async function reference(c: ConvCase, seed: number) {
  await tf.setBackend('cpu');
  const x = tf.randomUniform(c.x, -1, 1, 'float32', seed) as tf.Tensor4D;
  const filter = tf.randomUniform(c.filter, -1, 1, 'float32', seed + 1) as tf.Tensor4D;
  const dyShape = tf.tidy(() => tf.conv2d(x, filter, stridesOf(c), c.pad).shape);
  const dy = tf.randomUniform(dyShape, -1, 1, 'float32', seed + 2);
  const expected = tf.engine().makeTensorFromTensorInfo(
    stockCpuInputGradient({
      inputs: { dy, filter },
      backend: tf.backend(),
      attrs: attrsOf(c),
    }) as tf.TensorInfo,
  );
  const out = { filter: await filter.data(), dy: await dy.data(), dyShape, expected: await expected.data() };
  tf.dispose([x, filter, dy, expected]);
  return out;
}

afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('inputGradPhases', () => {
  it('splits a 3x3 stride-2 axis into its two phases with their taps', () => {
    // no padding before: dx[2q] = dy[q]·W0 + dy[q−1]·W2 (window rows q−1, q), dx[2q+1] = dy[q]·W1
    expect(inputGradPhases(8, 3, 2, 0)).toEqual([
      { rows: 4, taps: 2, first: -1, filterRows: [2, 0] },
      { rows: 4, taps: 1, first: 0, filterRows: [1] },
    ]);
    // padding 1 on 7 rows: dx[2q] = dy[q]·W1 (4 rows), dx[2q+1] = dy[q]·W2 + dy[q+1]·W0 (3 rows)
    expect(inputGradPhases(7, 3, 2, 1)).toEqual([
      { rows: 4, taps: 1, first: 0, filterRows: [1] },
      { rows: 3, taps: 2, first: 0, filterRows: [2, 0] },
    ]);
    // 1x1 stride 2: the odd rows get nothing
    expect(inputGradPhases(8, 1, 2, 0).map((p) => p.taps)).toEqual([1, 0]);
  });
});

describe('conv2dBackpropInputSimd', () => {
  it.each(CASES.map((c, i) => [i, c] as const))(
    'case %i matches the stock cpu kernel to 1e-4',
    async (i, c) => {
      const ref = await reference(c, 700 + 10 * i);
      expect(Math.max(...Array.from(ref.expected, Math.abs))).toBeGreaterThan(0.5);
      await tf.setBackend('wasm');
      const filter = tf.tensor(ref.filter, c.filter);
      const dy = tf.tensor(ref.dy, ref.dyShape);
      const backend = tf.backend();
      const before = backend.numDataIds();
      const counter = WINOGRAD.has(i) ? 'inputGradWinograd' : 'inputGrad';
      const calls = simdKernelCalls[counter] ?? 0;
      const info = conv2dBackpropInputSimd({ inputs: { dy, filter }, backend, attrs: attrsOf(c) });
      expect(info).not.toBeNull();
      expect(simdKernelCalls[counter]).toBe(calls + 1);
      expect(info!.shape).toEqual(c.x);
      expect(backend.numDataIds()).toBe(before + 1); // the output and nothing else
      const out = tf.engine().makeTensorFromTensorInfo(info!);
      expect(maxAbsDiff(await out.data(), ref.expected)).toBeLessThan(1e-4);
      tf.dispose([filter, dy, out]);
    },
  );

  it('overwrites every value of its output, also where a phase has no tap (no stale heap memory)', async () => {
    await tf.setBackend('wasm');
    const c: ConvCase = { x: [2, 16, 16, 8], filter: [1, 1, 8, 8], stride: 2, pad: 'same' };
    const ref = await reference(c, 5);
    await tf.setBackend('wasm');
    // fill the heap's free memory with NaNs the output could land on
    const junk = tf.fill([4 * 16 * 16 * 8], NaN);
    junk.dispose();
    const filter = tf.tensor(ref.filter, c.filter);
    const dy = tf.tensor(ref.dy, ref.dyShape);
    const info = conv2dBackpropInputSimd({
      inputs: { dy, filter },
      backend: tf.backend(),
      attrs: attrsOf(c),
    });
    const out = tf.engine().makeTensorFromTensorInfo(info!);
    const values = await out.data();
    expect(values.every(Number.isFinite)).toBe(true);
    expect(maxAbsDiff(values, ref.expected)).toBeLessThan(1e-4);
    tf.dispose([filter, dy, out]);
  });

  it('leaves what it does not handle to the fall-back (returns null)', async () => {
    await tf.setBackend('wasm');
    const attempt = (
      x: number[],
      filterShape: number[],
      stride: number,
      dataFormat: 'NHWC' | 'NCHW' = 'NHWC',
    ) => {
      const c = { x, filter: filterShape, stride, pad: 'same' } as ConvCase;
      const nhwc = dataFormat === 'NHWC' ? x : [x[0], x[2], x[3], x[1]];
      const dyShape = [nhwc[0], Math.ceil(nhwc[1] / stride), Math.ceil(nhwc[2] / stride), filterShape[3]];
      const filter = tf.ones(filterShape);
      const dy = tf.ones(dataFormat === 'NHWC' ? dyShape : [dyShape[0], dyShape[3], dyShape[1], dyShape[2]]);
      try {
        const out = conv2dBackpropInputSimd({
          inputs: { dy, filter },
          backend: tf.backend(),
          attrs: attrsOf(c, dataFormat),
        });
        if (out != null) tf.backend().disposeData(out.dataId);
        return out == null ? null : out.shape;
      } finally {
        tf.dispose([filter, dy]);
      }
    };
    expect(attempt([1, 8, 8, 8], [3, 3, 8, 4], 2)).toEqual([1, 8, 8, 8]);
    expect(attempt([1, 8, 8, 12], [3, 3, 12, 4], 1)).toBeNull(); // 12 input channels: not a multiple of 8
    expect(attempt([1, 8, 3, 8], [3, 3, 8, 4], 1)).toBeNull(); // 3 wide: narrower than the tile
    expect(attempt([1, 8, 6, 8], [3, 3, 8, 4], 2)).toBeNull(); // phases 3 wide
    expect(attempt([1, 8, 8, 8], [3, 3, 8, 4], 1, 'NCHW')).toBeNull();
  });
});
