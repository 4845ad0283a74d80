import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installKernels } from '../install';
import { compare, random } from '../wasm/testing';
import { broadcastPattern, channelBinary } from './wasm';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

afterAll(async () => {
  installKernels('wasm', { kernels: 'stock' });
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
