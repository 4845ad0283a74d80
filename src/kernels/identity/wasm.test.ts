import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installKernels } from '../install';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

afterAll(async () => {
  installKernels('wasm', { kernels: 'stock' });
  await tf.setBackend('cpu');
});

describe('identityShared (wasm Identity)', () => {
  it('clones without copying; each reference lives until it is disposed', async () => {
    installKernels('wasm');
    const backend = tf.backend();
    const before = backend.numDataIds();
    const x = tf.tensor2d([
      [1, -2, 3],
      [4, 5, -6],
    ]);
    const y = tf.clone(x);
    expect(backend.numDataIds()).toBe(before + 1); // one buffer for both
    expect(y.shape).toEqual([2, 3]);
    expect(y.dtype).toBe('float32');
    x.dispose();
    // the clone keeps the buffer alive after the original is gone
    expect(Array.from(await y.data())).toEqual([1, -2, 3, 4, 5, -6]);
    expect(backend.numDataIds()).toBe(before + 1);
    y.dispose();
    expect(backend.numDataIds()).toBe(before);
    // ints and bools too; a string tensor goes to the stock kernel
    const ints = tf.tensor1d([7, 8], 'int32');
    expect(Array.from(await tf.clone(ints).data())).toEqual([7, 8]);
    expect(await tf.clone(tf.tensor1d(['a', 'b'], 'string')).data()).toEqual(['a', 'b']);
  });

  it('keeps gradients right: a tensor saved for the backward pass is the same values', async () => {
    installKernels('wasm');
    const x = tf.tensor1d([0.5, -1.5, 2]);
    // square saves x for its gradient (through a clone): d/dx Σ x² = 2x
    const grad = tf.grad((v) => tf.sum(tf.square(v)))(x);
    expect(Array.from(await grad.data())).toEqual([1, -3, 4]);
    tf.dispose([x, grad]);
  });

  it('the stock kernel (speed kernels off) copies', () => {
    installKernels('wasm', { kernels: 'stock' });
    const backend = tf.backend();
    const x = tf.tensor1d([1, 2, 3]);
    const before = backend.numDataIds();
    const y = tf.clone(x);
    expect(backend.numDataIds()).toBe(before + 1);
    tf.dispose([x, y]);
  });
});

describe('castShared (wasm Cast)', () => {
  it('a cast to the same dtype is a second reference; a real conversion still converts', async () => {
    installKernels('wasm');
    const backend = tf.backend();
    const x = tf.tensor1d([1.5, -2.5, 3]);
    const before = backend.numDataIds();
    const same = tf.cast(x, 'float32');
    expect(backend.numDataIds()).toBe(before); // no new buffer
    x.dispose();
    expect(Array.from(await same.data())).toEqual([1.5, -2.5, 3]);
    const ints = tf.cast(same, 'int32');
    expect(ints.dtype).toBe('int32');
    expect(Array.from(await ints.data())).toEqual([1, -2, 3]);
    expect(backend.numDataIds()).toBe(before + 1); // same's buffer (x's) and ints'
    const floats = tf.cast(tf.tensor1d([true, false], 'bool'), 'float32');
    expect(Array.from(await floats.data())).toEqual([1, 0]);
    tf.dispose([same, ints, floats]);
  });

  it('the stock kernel (speed kernels off) copies', () => {
    installKernels('wasm', { kernels: 'stock' });
    const backend = tf.backend();
    const x = tf.tensor1d([1, 2, 3]);
    const before = backend.numDataIds();
    const y = tf.cast(x, 'float32');
    expect(backend.numDataIds()).toBe(before + 1);
    tf.dispose([x, y]);
  });
});
