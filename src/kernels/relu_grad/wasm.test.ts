import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { RELU_GRAD_KERNEL } from '../ops';
import { reluGradConfig } from './gradient';
import { installKernels } from '../install';
import { simdKernelCalls } from '../wasm/runtime';

const stockReluGradient = tf.getGradient(tf.Relu)!;

afterAll(async () => {
  tf.registerGradient(stockReluGradient);
  installKernels('wasm', { kernels: 'stock' });
  await tf.setBackend('cpu');
});

/** x with positives, negatives, zeros (both signs), NaN and infinities; dy with the same, for `size` values. */
function inputs(size: number): { x: Float32Array; dy: Float32Array } {
  const special = [0, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-30, -1e-30];
  const x = Float32Array.from({ length: size }, (_, i) =>
    i < special.length ? special[i] : Math.sin(i * 1.7) * 3,
  );
  const dy = Float32Array.from({ length: size }, (_, i) =>
    i % 11 === 3 ? Number.NaN : i % 13 === 5 ? Number.POSITIVE_INFINITY : Math.cos(i * 0.9) * 2,
  );
  return { x, dy };
}

/** d/dx Σ relu(x) · dy on the active backend. */
async function reluGradient(values: { x: Float32Array; dy: Float32Array }): Promise<Float32Array> {
  const x = tf.tensor1d(values.x);
  const dy = tf.tensor1d(values.dy);
  const g = tf.grad((v) => tf.sum(tf.mul(tf.relu(v), dy)))(x);
  const out = (await g.data()) as Float32Array;
  tf.dispose([x, dy, g]);
  return out;
}

/** Equal as float32 values, NaN equal to NaN (signed zeros compared too). */
function sameValues(a: Float32Array, b: Float32Array): boolean {
  return (
    a.length === b.length &&
    Array.from(a).every((v, i) => Object.is(v, b[i]) || (Number.isNaN(v) && Number.isNaN(b[i])))
  );
}

describe('the Relu gradient in one kernel on wasm', () => {
  it.each([8, 37, 1000])(
    '%i values: the same as the stock gradient on cpu, NaN, infinities and signed zeros included',
    async (size) => {
      const values = inputs(size);
      await tf.setBackend('cpu');
      const expected = await reluGradient(values);
      await tf.setBackend('wasm');
      installKernels('wasm');
      tf.registerGradient(reluGradConfig);
      const calls = simdKernelCalls.reluGrad ?? 0;
      const actual = await reluGradient(values);
      expect(simdKernelCalls.reluGrad).toBe(calls + 1);
      expect(sameValues(actual, expected)).toBe(true);
      // the gradient is not trivial: some pass dy through, some are zeroed
      expect(actual.some((v, i) => v === values.dy[i] && v !== 0)).toBe(true);
      expect(actual.some((v, i) => v === 0 && values.dy[i] !== 0)).toBe(true);
    },
  );

  it('3 values (no whole vector) run in JavaScript, the same', async () => {
    const values = inputs(3);
    await tf.setBackend('cpu');
    const expected = await reluGradient(values);
    await tf.setBackend('wasm');
    installKernels('wasm');
    tf.registerGradient(reluGradConfig);
    expect(sameValues(await reluGradient(values), expected)).toBe(true);
  });

  it("falls back to tfjs' Step, Cast and Multiply where the kernel is not registered", async () => {
    await tf.setBackend('wasm');
    installKernels('wasm', { kernels: 'stock' });
    tf.registerGradient(reluGradConfig);
    expect(tf.getKernel(RELU_GRAD_KERNEL, 'wasm')).toBeUndefined();
    const values = inputs(64);
    const calls = simdKernelCalls.reluGrad ?? 0;
    const viaOps = await reluGradient(values);
    expect(simdKernelCalls.reluGrad ?? 0).toBe(calls);
    await tf.setBackend('cpu');
    expect(sameValues(viaOps, await reluGradient(values))).toBe(true);
  });

  it('refuses mismatched shapes', async () => {
    await tf.setBackend('wasm');
    installKernels('wasm');
    const [dy, x] = [tf.ones([4]), tf.ones([8])];
    expect(() => tf.engine().runKernel(RELU_GRAD_KERNEL, { dy, x })).toThrow(
      /dy has shape \[4\], x has \[8\]/,
    );
    tf.dispose([dy, x]);
  });
});
