import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installKernels } from '../install';
import { simdKernelCalls } from '../wasm/runtime';
import { compare, maxRelative, random } from '../wasm/testing';
import { sumLeadingSimd } from './wasm';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

afterAll(async () => {
  installKernels('wasm', { kernels: 'stock' });
  await tf.setBackend('cpu');
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

describe('registered on wasm', () => {
  it('tf ops run them while the speed kernels are on, and the stock kernels otherwise', async () => {
    await tf.setBackend('wasm');
    const x = tf.randomUniform([8, 8, 8, 16]);
    const v = tf.randomUniform([16]);
    installKernels('wasm');
    const calls = { mul: simdKernelCalls.mul ?? 0, sumRows: simdKernelCalls.sumRows ?? 0 };
    const on = { product: await tf.mul(x, v).data(), mean: await tf.mean(x, [0, 1, 2]).data() };
    expect(simdKernelCalls.mul).toBe(calls.mul + 1);
    expect(simdKernelCalls.sumRows).toBe(calls.sumRows + 1);
    installKernels('wasm', { kernels: 'stock' });
    const off = { product: await tf.mul(x, v).data(), mean: await tf.mean(x, [0, 1, 2]).data() };
    expect(simdKernelCalls.mul).toBe(calls.mul + 1);
    expect(Array.from(on.product)).toEqual(Array.from(off.product));
    expect(maxRelative(on.mean as Float32Array, off.mean as Float32Array)).toBeLessThan(1e-5);
    tf.dispose([x, v]);
  });
});
