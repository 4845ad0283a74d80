import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerProjectKernels, unregisterProjectKernels } from '../register';
import { registerProjectGradients, unregisterProjectGradients } from '../webgpu/index';
import {
  broadcastPattern,
  channelBinary,
  fusedBatchNormSimd,
  sumLeadingSimd,
  tileChannels,
} from './channelwise';
import { simdKernelCalls } from './runtime';

type Run = (args: {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs?: tf.NamedAttrMap;
}) => tf.TensorInfo | tf.TensorInfo[];

/** Runs `kernel` on the cpu backend's stock kernel and on `ours` (wasm) for the same inputs; both results. */
async function compare(
  kernelName: string,
  ours: (args: {
    inputs: tf.NamedTensorInfoMap;
    backend: tf.KernelBackend;
    attrs?: tf.NamedAttrMap;
  }) => tf.TensorInfo | null,
  inputs: Record<string, { shape: number[]; values: Float32Array }>,
  attrs: Record<string, unknown> = {},
) {
  const results: Record<'cpu' | 'wasm', { shape: number[]; values: Float32Array } | null> = {
    cpu: null,
    wasm: null,
  };
  for (const backendName of ['cpu', 'wasm'] as const) {
    await tf.setBackend(backendName);
    const tensors = Object.fromEntries(
      Object.entries(inputs).map(([k, v]) => [k, tf.tensor(v.values, v.shape)]),
    );
    const args = { inputs: tensors, backend: tf.backend(), attrs: attrs as tf.NamedAttrMap };
    const info =
      backendName === 'cpu'
        ? ((tf.getKernel(kernelName, 'cpu')!.kernelFunc as unknown as Run)(args) as tf.TensorInfo)
        : ours(args);
    if (info != null) {
      const out = tf.engine().makeTensorFromTensorInfo(info);
      results[backendName] = { shape: out.shape, values: (await out.data()) as Float32Array };
      out.dispose();
    }
    tf.dispose(Object.values(tensors));
  }
  return results;
}

function random(shape: number[], seed: number, lo = -2, hi = 2): { shape: number[]; values: Float32Array } {
  let s = seed >>> 0;
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    values[i] = lo + ((hi - lo) * s) / 2 ** 32;
  }
  return { shape, values };
}

function maxRelative(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++)
    worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return worst;
}

beforeAll(async () => {
  await tf.setBackend('wasm');
});

afterAll(async () => {
  unregisterProjectKernels('wasm');
  await tf.setBackend('cpu');
});

describe('channelBinary', () => {
  const kernels = [
    [tf.Multiply, channelBinary(tf.Multiply)],
    [tf.Add, channelBinary(tf.Add)],
    [tf.Sub, channelBinary(tf.Sub)],
  ] as const;
  const full = random([4, 8, 8, 16], 1);
  for (const [name, ours] of kernels) {
    for (const channelShape of [[16], [1, 16], [1, 1, 1, 16]]) {
      for (const channelFirst of [false, true]) {
        it(`${name}: [4, 8, 8, 16] and [${channelShape}] (${channelFirst ? 'channel first' : 'channel second'}) equal cpu bit for bit`, async () => {
          const channel = random(channelShape, 7);
          const inputs = channelFirst ? { a: channel, b: full } : { a: full, b: channel };
          const { cpu, wasm } = await compare(name, ours, inputs);
          expect(wasm).not.toBeNull();
          expect(wasm!.shape).toEqual([4, 8, 8, 16]);
          expect(Array.from(wasm!.values)).toEqual(Array.from(cpu!.values));
        });
      }
    }
  }

  // the JavaScript path: augmentation-sized tensors, any channel count, per-image factors, scalars
  const jsCases: Array<[string, number[], number[]]> = [
    ['per-channel [3]', [9, 32, 32, 3], [3]],
    ['per-image [13, 1, 1, 1] (first)', [13, 1, 1, 1], [13, 32, 32, 3]],
    ['per-image [13, 1, 1, 1]', [13, 32, 32, 1], [13, 1, 1, 1]],

    ['[3] first', [3], [9, 8, 8, 3]],
    ['per-row [5, 1]', [5, 6], [5, 1]],
    ['a small per-channel [16]', [2, 4, 4, 16], [16]],
  ];
  for (const [name, ours] of kernels) {
    it.each(jsCases)(`${name}: %s equals cpu bit for bit`, async (_, aShape, bShape) => {
      const { cpu, wasm } = await compare(name, ours, { a: random(aShape, 8), b: random(bShape, 9) });
      expect(wasm).not.toBeNull();
      expect(wasm!.shape).toEqual(cpu!.shape);
      expect(Array.from(wasm!.values)).toEqual(Array.from(cpu!.values));
    });
  }

  it('leaves same-shape operands, other broadcasts and ints to the stock kernels', async () => {
    const multiply = channelBinary(tf.Multiply);
    const cases: Array<[number[], number[], tf.DataType]> = [
      [[4, 8, 8, 16], [8, 1, 16], 'float32'], // neither a trailing nor a leading block
      [[4, 8, 8, 16], [4, 8, 8, 16], 'float32'], // same shape: the stock kernel is already a plain loop
      [[4, 8, 8, 16], [16], 'int32'],
      [[16], [1, 1, 16], 'float32'], // the smaller side has the higher rank
      [[2, 3], [3, 1], 'float32'], // both sides broadcast
      [[64, 5], [], 'float32'], // a scalar: the stock kernel's plain loop
      [[128, 32, 32, 3], [3], 'float32'], // 393,216 values: past the JavaScript loop's limit
    ];
    await tf.setBackend('wasm');
    for (const [aShape, bShape, dtype] of cases) {
      const a = tf.ones(aShape, dtype);
      const b = tf.ones(bShape, dtype);
      expect(multiply({ inputs: { a, b }, backend: tf.backend() })).toBeNull();
      tf.dispose([a, b]);
    }
  });

  it('broadcastPattern names the block and its extent', () => {
    expect(broadcastPattern([3], [9, 32, 32, 3])).toEqual({ kind: 'trailing', inner: 3 });
    expect(broadcastPattern([1, 32, 3], [9, 32, 32, 3])).toEqual({ kind: 'trailing', inner: 96 });
    expect(broadcastPattern([9, 1, 1, 1], [9, 32, 32, 3])).toEqual({ kind: 'leading', inner: 3072 });
    expect(broadcastPattern([9, 32, 1, 1], [9, 32, 32, 3])).toEqual({ kind: 'leading', inner: 96 });
    expect(broadcastPattern([], [4, 5])).toEqual({ kind: 'trailing', inner: 1 });
    expect(broadcastPattern([1, 32, 1, 3], [9, 32, 32, 3])).toBeNull();
    expect(broadcastPattern([2], [9, 3])).toBeNull();
  });
});

describe('fusedBatchNormSimd', () => {
  const x = random([8, 8, 8, 12], 3, -3, 5);
  for (const withAffine of [true, false]) {
    for (const paramShape of [[12], [1, 1, 1, 12]]) {
      it(`matches the cpu kernel to 1e-5 (scale and offset: ${withAffine}, parameters [${paramShape}])`, async () => {
        const inputs: Record<string, { shape: number[]; values: Float32Array }> = {
          x,
          mean: random(paramShape, 4, 0, 2),
          variance: random(paramShape, 5, 0.1, 3),
        };
        if (withAffine) {
          inputs.scale = random(paramShape, 6, 0.5, 2);
          inputs.offset = random(paramShape, 7);
        }
        const { cpu, wasm } = await compare(tf.FusedBatchNorm, fusedBatchNormSimd, inputs, {
          varianceEpsilon: 1e-3,
        });
        expect(wasm).not.toBeNull();
        expect(wasm!.shape).toEqual(x.shape);
        expect(maxRelative(wasm!.values, cpu!.values)).toBeLessThan(1e-5);
        // normalised: each channel of the result has mean ≈ offset-shifted, a real change from x
        expect(maxRelative(wasm!.values, x.values)).toBeGreaterThan(0.1);
      });
    }
  }

  it('leaves 3 channels (not a multiple of 4) to the stock kernel', async () => {
    await tf.setBackend('wasm');
    const t = { x: tf.ones([64, 8, 8, 3]), mean: tf.zeros([3]), variance: tf.ones([3]) };
    const args = {
      inputs: t,
      backend: tf.backend(),
      attrs: { varianceEpsilon: 1e-3 } as unknown as tf.NamedAttrMap,
    };
    expect(fusedBatchNormSimd(args)).toBeNull();
    tf.dispose(Object.values(t));
  });
});

describe('sumLeadingSimd', () => {
  const cases: Array<[number[], number[], boolean]> = [
    [[16, 8, 8, 8], [0, 1, 2], false],
    [[16, 8, 8, 8], [0, 1, 2], true],
    [[400, 12], [0], false], // 400 rows: not a multiple of the 64-row block
    [[5, 30, 4, 16], [0, 1], false], // keeps [4, 16]
  ];
  for (const kernel of [tf.Sum, tf.Mean] as const) {
    for (const [shape, axis, keepDims] of cases) {
      it(`${kernel} of [${shape}] over [${axis}] (keepDims ${keepDims}) matches cpu to 1e-5`, async () => {
        const { cpu, wasm } = await compare(
          kernel,
          sumLeadingSimd(kernel),
          { x: random(shape, 11) },
          { axis, keepDims },
        );
        expect(wasm).not.toBeNull();
        expect(wasm!.shape).toEqual(cpu!.shape);
        expect(maxRelative(wasm!.values, cpu!.values)).toBeLessThan(1e-5);
      });
    }
  }

  it('sums a long column of 0.1s far closer than a plain float32 running sum does', async () => {
    const rows = 1 << 18;
    const x = { shape: [rows, 4], values: new Float32Array(rows * 4).fill(0.1) };
    const { cpu, wasm } = await compare(
      tf.Sum,
      sumLeadingSimd(tf.Sum),
      { x },
      { axis: [0], keepDims: false },
    );
    let running = 0;
    for (let i = 0; i < rows; i++) running = Math.fround(running + Math.fround(0.1));
    const plainError = Math.abs(running - cpu!.values[0]) / cpu!.values[0];
    expect(plainError).toBeGreaterThan(1e-4); // what one float32 accumulator would get wrong
    expect(maxRelative(wasm!.values, cpu!.values) / cpu!.values[0]).toBeLessThan(1e-6);
  });

  it('leaves inner-axis reductions and odd channel counts to the other paths', async () => {
    await tf.setBackend('wasm');
    const x = tf.ones([64, 8, 8, 6]);
    const y = tf.ones([64, 8, 8, 8]);
    const run = (t: tf.Tensor, axis: number[]) =>
      sumLeadingSimd(tf.Sum)({
        inputs: { x: t },
        backend: tf.backend(),
        attrs: { axis, keepDims: false } as unknown as tf.NamedAttrMap,
      });
    expect(run(x, [0, 1, 2])).toBeNull();
    expect(run(y, [1, 2])).toBeNull();
    expect(run(y, [0, 1, 2, 3])).toBeNull();
    tf.dispose([x, y]);
  });
});

describe('tileChannels', () => {
  const cases: Array<[number[], number[]]> = [
    [
      [1, 1, 1, 16],
      [4, 8, 8, 1],
    ], // a per-channel vector: the SIMD pass
    [
      [1, 12],
      [400, 1],
    ],
    [
      [1, 1, 8],
      [3, 200, 1],
    ],
    [
      [4, 1, 1, 16],
      [1, 8, 8, 1],
    ], // global average pooling's gradient: row copies
    [
      [2, 3, 5],
      [200, 1, 1],
    ], // 5 channels: element copies
    [
      [3, 1, 6, 20],
      [1, 40, 2, 1],
    ],
  ];
  it.each(cases)('Tile of [%s] by reps [%s] equals cpu', async (shape, reps) => {
    const { cpu, wasm } = await compare(tf.Tile, tileChannels, { x: random(shape, 21) }, { reps });
    expect(wasm).not.toBeNull();
    expect(wasm!.shape).toEqual(cpu!.shape);
    expect(Array.from(wasm!.values)).toEqual(Array.from(cpu!.values));
  });

  it('leaves a repeated last axis, ints and small outputs to the stock kernel', async () => {
    await tf.setBackend('wasm');
    const run = (shape: number[], reps: number[], dtype: tf.DataType = 'float32') => {
      const x = tf.ones(shape, dtype);
      try {
        const attrs = { reps } as unknown as tf.NamedAttrMap;
        return tileChannels({ inputs: { x }, backend: tf.backend(), attrs });
      } finally {
        x.dispose();
      }
    };
    expect(run([1, 16], [400, 2])).toBeNull(); // tiles the last axis too
    expect(run([1, 16], [400, 1], 'int32')).toBeNull();
    expect(run([1, 16], [8, 1])).toBeNull(); // 128 values: the stock kernel is as fast
  });

  it('carries the pooling (Mean over the spatial axes) gradient on wasm, equal to the stock gradient on cpu', async () => {
    const poolGradient = async (backendName: string) => {
      await tf.setBackend(backendName);
      const x = tf.tensor(random([8, 8, 8, 16], 41).values, [8, 8, 8, 16]);
      const w = tf.tensor(random([8, 16], 42).values, [8, 16]);
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.mean(a, [1, 2]), w)))(x);
      const values = (await g.data()) as Float32Array;
      tf.dispose([x, w, g]);
      return values;
    };
    const expected = await poolGradient('cpu');
    registerProjectKernels('wasm');
    registerProjectGradients();
    try {
      expect(maxRelative(await poolGradient('wasm'), expected)).toBeLessThan(1e-6);
    } finally {
      unregisterProjectGradients();
    }
  });

  it("carries the project's Mean gradient on wasm (one Tile pass, no Fill), equal to the stock gradient on cpu", async () => {
    const meanGradient = async (backendName: string) => {
      await tf.setBackend(backendName);
      const x = tf.tensor(random([16, 8, 8, 8], 31).values, [16, 8, 8, 8]);
      const w = tf.tensor(random([8], 32).values, [8]);
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.mean(a, [0, 1, 2]), w)))(x);
      const values = (await g.data()) as Float32Array;
      tf.dispose([x, w, g]);
      return values;
    };
    const expected = await meanGradient('cpu');
    registerProjectKernels('wasm');
    registerProjectGradients();
    try {
      const calls = simdKernelCalls.broadcast ?? 0;
      const actual = await meanGradient('wasm');
      expect(simdKernelCalls.broadcast).toBe(calls + 1);
      expect(maxRelative(actual, expected)).toBeLessThan(1e-6);
    } finally {
      unregisterProjectGradients();
    }
  });
});

describe('registered on wasm', () => {
  it('tf ops run them while the speed kernels are on, and the stock kernels otherwise', async () => {
    await tf.setBackend('wasm');
    const x = tf.randomUniform([8, 8, 8, 16]);
    const v = tf.randomUniform([16]);
    registerProjectKernels('wasm');
    const calls = { mul: simdKernelCalls.mul ?? 0, sumRows: simdKernelCalls.sumRows ?? 0 };
    const on = { product: await tf.mul(x, v).data(), mean: await tf.mean(x, [0, 1, 2]).data() };
    expect(simdKernelCalls.mul).toBe(calls.mul + 1);
    expect(simdKernelCalls.sumRows).toBe(calls.sumRows + 1);
    unregisterProjectKernels('wasm');
    const off = { product: await tf.mul(x, v).data(), mean: await tf.mean(x, [0, 1, 2]).data() };
    expect(simdKernelCalls.mul).toBe(calls.mul + 1);
    expect(Array.from(on.product)).toEqual(Array.from(off.product));
    expect(maxRelative(on.mean as Float32Array, off.mean as Float32Array)).toBeLessThan(1e-5);
    tf.dispose([x, v]);
  });
});
