import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KernelArgs } from '../backend_ops';
import { onCpuAndWasm } from '../conv_testing';
import { installKernels } from '../install';
import { reduceLeadingAxes } from './two_step';

// The wasm Sum and Mean over leading axes (two steps), against the cpu backend's reductions.

beforeAll(async () => {
  await tf.setBackend('wasm');
  expect(installKernels('wasm')).toEqual(expect.arrayContaining([tf.Sum, tf.Mean]));
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

const CASES: {
  name: string;
  shape: number[];
  axis: number | number[];
  keepDims?: boolean;
  handled: boolean;
}[] = [
  {
    name: "BatchNorm's moments: [N, H, W, C] over N, H, W",
    shape: [16, 16, 16, 8],
    axis: [0, 1, 2],
    handled: true,
  },
  { name: 'keepDims', shape: [16, 16, 16, 8], axis: [0, 1, 2], keepDims: true, handled: true },
  { name: 'axes unordered and negative', shape: [8, 32, 20, 3], axis: [-3, 0, 2], handled: true },
  { name: 'rows/k still large: the second step splits again', shape: [4096 * 64, 2], axis: 0, handled: true },
  { name: 'a rank-2 batch of rows', shape: [6000, 5], axis: 0, handled: true },
  { name: 'rows with no divisor in [8, 64] (stock)', shape: [4099, 4], axis: 0, handled: false },
  { name: 'few rows (stock)', shape: [64, 4, 4, 3], axis: [0, 1, 2], handled: false },
  { name: 'not a leading prefix (stock)', shape: [64, 32, 32, 2], axis: [1, 2], handled: false },
  { name: 'every axis (stock)', shape: [64, 128], axis: [0, 1], handled: false },
];

/** Max |a − b| / (1 + |b|). */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  return worst;
}

describe('wasm Sum and Mean over leading axes', () => {
  for (const kernel of [tf.Sum, tf.Mean] as const) {
    it.each(CASES)(`${kernel}: $name matches cpu`, async ({ shape, axis, keepDims, handled }) => {
      const size = shape.reduce((a, b) => a * b, 1);
      // non-zero mean per column, so a wrong grouping or scale shows
      const values = Float32Array.from(
        { length: size },
        (_, i) => Math.sin(i * 0.37) + (i % shape.at(-1)!) * 0.5,
      );
      const reduce = (x: tf.Tensor) =>
        kernel === tf.Sum ? tf.sum(x, axis, keepDims) : tf.mean(x, axis, keepDims);
      const { cpu, wasm } = await onCpuAndWasm(() =>
        tf.tidy(() => {
          const out = reduce(tf.tensor(values, shape));
          return { shape: out.shape, values: out.dataSync().slice() };
        }),
      );
      expect(wasm.shape).toEqual(cpu.shape);
      expect(Math.max(...Array.from(cpu.values, Math.abs))).toBeGreaterThan(0.1);
      expect(relativeError(wasm.values, cpu.values)).toBeLessThan(1e-5);

      await tf.setBackend('wasm');
      const backend = tf.backend();
      const x = tf.tensor(values, shape);
      const before = backend.numDataIds();
      const args = {
        inputs: { x },
        backend,
        attrs: { axis, keepDims: keepDims ?? false },
      } as unknown as KernelArgs;
      const out = reduceLeadingAxes(kernel)(args, 'wasm');
      expect(out !== null).toBe(handled);
      if (out !== null) {
        // only the result survives: the grouped view and the partial reduction were released
        expect(backend.numDataIds()).toBe(before + 1);
        backend.disposeData(out.dataId);
      }
      x.dispose();
    });
  }

  it('leaves non-float32 input to the stock kernel', async () => {
    await tf.setBackend('wasm');
    const x = tf.ones([128, 64, 2], 'int32');
    const args = {
      inputs: { x },
      backend: tf.backend(),
      attrs: { axis: [0, 1], keepDims: false },
    } as unknown as KernelArgs;
    expect(reduceLeadingAxes(tf.Sum)(args, 'wasm')).toBeNull();
    expect(tf.tidy(() => Array.from(tf.sum(x, [0, 1]).dataSync()))).toEqual([8192, 8192]);
    x.dispose();
  });
});
