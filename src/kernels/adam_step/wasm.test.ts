import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { installKernels } from '../install';
import { ADAM_STEP_KERNEL, adamStep, type AdamStepAttrs } from '../ops';
import { simdKernelCalls } from '../wasm/runtime';
import { adamLoop } from './wasm';
import { ADAM_CONSTANTS } from './wasm_body';

afterAll(async () => {
  installKernels('wasm', { kernels: 'stock' });
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

/** adamStep on the active backend from the seeded values; [m', v', w']. */
async function step(shape: number[], attrs: AdamStepAttrs): Promise<Float32Array[]> {
  const [w, g, m, v] = inputs(shape, 7).map((values) => tf.tensor(values, shape));
  const out = adamStep(w, g, m, v, attrs);
  const values = await Promise.all(out.map((t) => t.data() as Promise<Float32Array>));
  out.forEach((t) => expect(t.shape).toEqual(shape));
  tf.dispose([w, g, m, v, ...out]);
  return values;
}

function maxAbs(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
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

describe('fused Adam/AdamW step on wasm (SIMD)', () => {
  it.each([
    { name: 'AdamW, a conv kernel', shape: [3, 3, 4, 8], attrs: ADAMW },
    { name: 'Adam with L2, 7 values (one vector and a 3-value tail)', shape: [7], attrs: ADAM_L2 },
    { name: 'AdamW at step 1, 3 values (tail only)', shape: [3], attrs: { ...ADAMW, c1: 0.1, c2: 0.001 } },
    { name: 'AdamW, 650 values', shape: [130, 5], attrs: ADAMW },
  ])('$name: m, v and w equal the reference (op by op) on cpu', async ({ shape, attrs }) => {
    await tf.setBackend('cpu');
    const expected = await step(shape, attrs);
    await tf.setBackend('wasm');
    installKernels('wasm');
    const calls = simdKernelCalls.adam ?? 0;
    const actual = await step(shape, attrs);
    expect(simdKernelCalls.adam).toBe(calls + 1);
    // the same float32 operations in the same order: equal (signed zeros aside)
    for (let k = 0; k < 3; k++) expect(maxAbs(actual[k], expected[k])).toBe(0);
    const [w0] = inputs(shape, 7);
    expect(maxAbs(actual[2], w0)).toBeGreaterThan(1e-4);
  });

  it('the JavaScript loop (engines without SIMD) gives the same values', async () => {
    await tf.setBackend('cpu');
    const shape = [37];
    const expected = await step(shape, ADAM_L2);
    const [w, g, m, v] = inputs(shape, 7);
    const out = [0, 1, 2].map(() => new Float32Array(37));
    adamLoop(w, g, m, v, out[0], out[1], out[2], {
      ...ADAM_L2,
      oneMinusBeta1: 1 - ADAM_L2.beta1,
      oneMinusBeta2: 1 - ADAM_L2.beta2,
    });
    for (let k = 0; k < 3; k++) expect(maxAbs(out[k], expected[k])).toBe(0);
    expect(ADAM_CONSTANTS).toHaveLength(10);
  });

  it('runs once per variable as an optimizer calls it, leaves no tensors, and goes away with the stock kernels', async () => {
    await tf.setBackend('wasm');
    installKernels('wasm');
    expect(tf.getKernel(ADAM_STEP_KERNEL, 'wasm')).toBeDefined();
    const variables = [tf.variable(tf.ones([3, 3, 4, 8])), tf.variable(tf.ones([8]))];
    const slots = variables.map((v) => [tf.variable(tf.zerosLike(v)), tf.variable(tf.zerosLike(v))]);
    const grads = variables.map((v) => tf.onesLike(v));
    // what src/engine/optim.ts does for adamw: one adamStep per variable, the results assigned, in one tidy
    const apply = () =>
      tf.tidy(() => {
        variables.forEach((w, i) => {
          const [m, v] = slots[i];
          const [mNext, vNext, next] = adamStep(w, grads[i], m, v, ADAMW);
          m.assign(mNext);
          v.assign(vNext);
          w.assign(next);
        });
      });
    apply();
    const before = tf.memory().numTensors;
    const calls = simdKernelCalls.adam ?? 0;
    apply();
    expect(simdKernelCalls.adam).toBe(calls + 2);
    expect(tf.memory().numTensors).toBe(before);
    installKernels('wasm', { kernels: 'stock' });
    expect(tf.getKernel(ADAM_STEP_KERNEL, 'wasm')).toBeUndefined();
    apply(); // the reference
    expect(simdKernelCalls.adam).toBe(calls + 2);
    tf.dispose([...variables, ...slots.flat(), ...grads]);
  });

  it('refuses mismatched shapes, naming them', async () => {
    await tf.setBackend('wasm');
    installKernels('wasm');
    const [w, g, m, v] = [tf.ones([4]), tf.ones([5]), tf.ones([4]), tf.ones([4])];
    expect(() => adamStep(w, g, m, v, ADAMW)).toThrow(/g has shape \[5\], w has \[4\]/);
    tf.dispose([w, g, m, v]);
  });
});
