import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installKernels } from '../install';
import { compare, maxRelative, random } from '../wasm/testing';
import { fusedBatchNormSimd } from './wasm';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

afterAll(async () => {
  installKernels('wasm', { kernels: 'stock' });
  await tf.setBackend('cpu');
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
