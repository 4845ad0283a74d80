import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';
import { ADAM_STEP_KERNEL, type AdamStepAttrs } from '../ops';
import { countSimdCall, type WasmHeapBackend } from '../wasm/runtime';
import { Scratch } from '../wasm/scratch';
import { simdModuleFor } from '../wasm_module';
import { ADAM_CONSTANTS } from './wasm_body';

/**
 * ADAM_STEP_KERNEL on wasm: one Adam / AdamW update of one variable (inputs w, g, m, v, float32, one shape;
 * outputs [m', v', w']) in one pass of the SIMD kernel, instead of ~17 tfjs ops and their host-made scalars per
 * variable (a W2 step updates ~60 variables: ~1,000 kernel calls). Same float32 operations in the same order as
 * ops.ts's op-by-op adamStepReference (buildAdamFunction); where the engine has no WebAssembly SIMD, the same operations in a
 * JavaScript loop (Math.fround after each one: the same float32 results). Throws for mismatched shapes or dtypes
 * other than float32 (adamStep only calls it for float32).
 */
export function adamStepWasm(args: KernelArgs): tf.TensorInfo[] {
  const { w, g, m, v } = args.inputs as Record<'w' | 'g' | 'm' | 'v', tf.TensorInfo>;
  const attrs = args.attrs as unknown as AdamStepAttrs;
  for (const [name, t] of Object.entries({ g, m, v })) {
    if (t.shape.join(',') !== w.shape.join(',')) {
      throw new Error(
        `${ADAM_STEP_KERNEL}: ${name} has shape [${t.shape.join(', ')}], w has [${w.shape.join(', ')}]`,
      );
    }
  }
  const wrongType = [w, g, m, v].find((t) => t.dtype !== 'float32');
  if (wrongType != null) throw new Error(`${ADAM_STEP_KERNEL}: float32 tensors only, got ${wrongType.dtype}`);
  const backend = args.backend as unknown as WasmHeapBackend;
  const simd = simdModuleFor(backend);
  const size = tf.util.sizeFromShape(w.shape);
  const values: Record<(typeof ADAM_CONSTANTS)[number], number> = {
    ...attrs,
    oneMinusBeta1: 1 - attrs.beta1,
    oneMinusBeta2: 1 - attrs.beta2,
  };
  const outputs = [0, 1, 2].map(() => backend.makeOutput([...w.shape], 'float32'));
  if (simd == null) {
    const heap = args.backend as unknown as { typedArrayFromHeap(t: tf.TensorInfo): Float32Array };
    const [wv, gv, mv, vv, mOut, vOut, wOut] = [w, g, m, v, ...outputs].map((t) =>
      heap.typedArrayFromHeap(t),
    );
    adamLoop(wv, gv, mv, vv, mOut, vOut, wOut, values);
    return outputs;
  }
  const scratch = new Scratch(backend);
  try {
    const constants = scratch.floats(
      simd,
      ADAM_CONSTANTS.length,
      ADAM_CONSTANTS.map((k) => values[k]),
    );
    const at = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
    simd.run('adam', [[at(w), at(g), at(m), at(v), ...outputs.map(at), size, constants]]);
  } catch (error) {
    for (const out of outputs) args.backend.disposeData(out.dataId);
    throw error;
  } finally {
    scratch.release();
  }
  countSimdCall('adam');
  return outputs;
}

/** The kernel's update in JavaScript, one float32 rounding per operation (for engines without SIMD). */
export function adamLoop(
  w: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  mOut: Float32Array,
  vOut: Float32Array,
  wOut: Float32Array,
  constants: Record<(typeof ADAM_CONSTANTS)[number], number>,
): void {
  const f = Math.fround;
  const [l2, b1, nb1, b2, nb2, c1, c2, lr, eps, decay] = ADAM_CONSTANTS.map((k) => f(constants[k]));
  for (let i = 0; i < w.length; i++) {
    const gd = f(g[i] + f(w[i] * l2));
    const mNew = f(f(m[i] * b1) + f(gd * nb1));
    const vNew = f(f(v[i] * b2) + f(f(gd * gd) * nb2));
    const update = f(f(f(mNew / c1) / f(f(Math.sqrt(f(vNew / c2))) + eps)) * lr);
    mOut[i] = mNew;
    vOut[i] = vNew;
    wOut[i] = f(f(w[i] - update) - f(w[i] * decay));
  }
}
