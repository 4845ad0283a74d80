import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { installKernels } from '../install';
import { ADAM_STEP_KERNEL, adamStep, type AdamStepAttrs } from '../ops';
import { useNodeWebGPU } from '../webgpu/testing';

const unavailable = await useNodeWebGPU();
if (unavailable) console.warn(`skipping the WebGPU Adam step tests: ${unavailable}`);

afterAll(async () => {
  installKernels('webgpu', { kernels: 'stock' });
  await tf.setBackend('cpu');
});

/** Seeded host values of w, g, m, v (v >= 0, as a second moment is). */
function inputs(shape: number[], seed: number): Float32Array[] {
  const size = shape.reduce((a, b) => a * b, 1);
  let state = seed;
  const next = () => ((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  return [0, 1, 2, 3].map((k) =>
    Float32Array.from({ length: size }, () => (k === 3 ? Math.abs(next()) * 1e-3 : next())),
  );
}

/** adamStep on `backend` from the same host values; returns [m', v', w'] as arrays. */
async function stepOn(backend: string, shape: number[], attrs: AdamStepAttrs): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const [w, g, m, v] = inputs(shape, 7).map((values) => tf.tensor(values, shape));
  const out = adamStep(w, g, m, v, attrs);
  const values = await Promise.all(out.map((t) => t.data() as Promise<Float32Array>));
  out.forEach((t) => expect(t.shape).toEqual(shape));
  tf.dispose([w, g, m, v, ...out]);
  return values;
}

function worstRelative(actual: Float32Array, expected: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++)
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i])));
  return worst;
}

const ADAMW: AdamStepAttrs = {
  l2: 0,
  beta1: 0.9,
  beta2: 0.999,
  c1: 1 - 0.9 ** 3,
  c2: 1 - 0.999 ** 3,
  lr: 1e-2,
  eps: 1e-8,
  decay: 1e-2 * 0.05,
};
const ADAM_L2: AdamStepAttrs = { ...ADAMW, l2: 0.05, decay: 0 };

describe.skipIf(unavailable !== null)('fused Adam/AdamW step on WebGPU', () => {
  it.each([
    { name: 'AdamW, conv kernel shape', shape: [3, 3, 4, 8], attrs: ADAMW },
    { name: 'Adam with L2, a bias vector', shape: [7], attrs: ADAM_L2 },
    {
      name: 'AdamW, step 1 (largest bias correction)',
      shape: [130, 5],
      attrs: { ...ADAMW, c1: 0.1, c2: 0.001 },
    },
  ])('$name: m, v and w match the reference (op by op) on cpu to 1e-6', async ({ shape, attrs }) => {
    const expected = await stepOn('cpu', shape, attrs);
    await tf.setBackend('webgpu');
    installKernels('webgpu');
    expect(tf.getKernel(ADAM_STEP_KERNEL, 'webgpu')).toBeDefined();
    const actual = await stepOn('webgpu', shape, attrs);
    for (let k = 0; k < 3; k++) expect(worstRelative(actual[k], expected[k])).toBeLessThan(1e-6);
    // the update moved every weight: a kernel that wrote w back unchanged would not pass
    const [w0] = inputs(shape, 7);
    expect(worstRelative(actual[2], w0)).toBeGreaterThan(1e-4);
  });

  it('runs as three kernels per variable instead of ~17, with no tensor left behind, as an optimizer calls it', async () => {
    await tf.setBackend('webgpu');
    const run = async (): Promise<{ kernels: string[]; weights: Float32Array; leaked: number }> => {
      const w = tf.variable(tf.tensor(inputs([4, 6], 3)[0], [4, 6]));
      const g = tf.tensor(inputs([4, 6], 5)[1], [4, 6]);
      const [m, v] = [tf.variable(tf.zerosLike(w)), tf.variable(tf.zerosLike(w))];
      // what src/engine/optim.ts does for adamw (lr 1e-2, weight decay 0.05) at step t
      const apply = (t: number) =>
        tf.tidy(() => {
          const [mNext, vNext, next] = adamStep(w, g, m, v, {
            ...ADAMW,
            c1: 1 - 0.9 ** t,
            c2: 1 - 0.999 ** t,
          });
          m.assign(mNext);
          v.assign(vNext);
          w.assign(next);
        });
      apply(1);
      const before = tf.memory().numTensors;
      const profile = await tf.profile(() => apply(2));
      const leaked = tf.memory().numTensors - before;
      const weights = (await w.data()) as Float32Array;
      tf.dispose([w, g, m, v]);
      return { kernels: profile.kernels.map((k) => k.name), weights, leaked };
    };
    installKernels('webgpu', { kernels: 'stock' });
    const ops = await run();
    installKernels('webgpu');
    const fused = await run();
    expect(fused.kernels).toEqual([ADAM_STEP_KERNEL]);
    expect(ops.kernels.length).toBeGreaterThanOrEqual(12);
    expect(fused.leaked).toBe(0);
    expect(ops.leaked).toBe(0);
    expect(worstRelative(fused.weights, ops.weights)).toBeLessThan(1e-6);
  });
});
