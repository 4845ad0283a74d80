import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installKernels } from '../install';
import { simdKernelCalls } from '../wasm/runtime';
import { compare, maxRelative, random } from '../wasm/testing';
import { tileChannels } from './wasm';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

afterAll(async () => {
  installKernels('wasm', { kernels: 'stock' });
  await tf.setBackend('cpu');
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
    installKernels('wasm'); // the kernels and the project gradients
    try {
      expect(maxRelative(await poolGradient('wasm'), expected)).toBeLessThan(1e-6);
    } finally {
      installKernels('wasm', { kernels: 'stock' });
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
    installKernels('wasm'); // the kernels and the project gradients
    try {
      const calls = simdKernelCalls.broadcast ?? 0;
      const actual = await meanGradient('wasm');
      expect(simdKernelCalls.broadcast).toBe(calls + 1);
      expect(maxRelative(actual, expected)).toBeLessThan(1e-6);
    } finally {
      installKernels('wasm', { kernels: 'stock' });
    }
  });
});
