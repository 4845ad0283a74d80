import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';
import { ADAM_STEP_KERNEL, type AdamStepAttrs } from '../ops';
import { FlatProgram, runProgram, type ProgramUniforms } from '../webgpu/program';

/**
 * One Adam / AdamW update of one variable in three dispatches (ops.ts's adamStepReference is ~17 ops
 * and as many host-made scalars per variable; a training step updates ~60 variables, and on a GPU the step was
 * bound by the CPU cost of issuing ops). Each program reads w, g, m, v and writes one of m', v', w':
 *
 *   gd = g + l2 · w                     (l2 = weight decay for 'adam' on decayed variables, else 0)
 *   m' = m · β1 + gd · (1 − β1)
 *   v' = v · β2 + gd² · (1 − β2)
 *   w' = (w − (m'/c1) / (sqrt(v'/c2) + ε) · lr) − w · decay     (c = 1 − β^t; decay = lr · wd for 'adamw')
 *
 * in the same order of float32 operations as the reference (the constants come as uniforms computed in
 * float64, as the reference's scalars are), so the two agree to float32 rounding.
 */
const OUTPUTS = ['m', 'v', 'w'] as const;

class AdamStepProgram extends FlatProgram {
  variableNames = ['w', 'g', 'm', 'v'];
  shaderKey: string;
  uniforms =
    'l2 : f32, beta1 : f32, oneMinusBeta1 : f32, beta2 : f32, oneMinusBeta2 : f32, c1 : f32, c2 : f32, lr : f32, eps : f32, decay : f32,';

  constructor(
    size: number,
    private readonly output: (typeof OUTPUTS)[number],
  ) {
    super([size]);
    this.shaderKey = `projectAdamStep_${output}`;
  }

  getUserCode(): string {
    const result = {
      m: 'mNew',
      v: 'vNew',
      w: '(w[index] - (mNew / uniforms.c1) / (sqrt(vNew / uniforms.c2) + uniforms.eps) * uniforms.lr) - w[index] * uniforms.decay',
    }[this.output];
    return `
    fn main(index : i32) {
      if (index < uniforms.size) {
        let gd = g[index] + w[index] * uniforms.l2;
        let mNew = m[index] * uniforms.beta1 + gd * uniforms.oneMinusBeta1;
        let vNew = v[index] * uniforms.beta2 + (gd * gd) * uniforms.oneMinusBeta2;
        result[index] = ${result};
      }
    }
    `;
  }
}

/** Kernel ADAM_STEP_KERNEL on webgpu: inputs w, g, m, v (float32, one shape); outputs [m', v', w']. */
export function adamStepWebGPU(args: KernelArgs): tf.TensorInfo[] {
  const { w, g, m, v } = args.inputs as Record<'w' | 'g' | 'm' | 'v', tf.TensorInfo>;
  const a = args.attrs as unknown as AdamStepAttrs;
  for (const [name, t] of Object.entries({ g, m, v })) {
    if (t.shape.join(',') !== w.shape.join(',')) {
      throw new Error(
        `${ADAM_STEP_KERNEL}: ${name} has shape [${t.shape.join(', ')}], w has [${w.shape.join(', ')}]`,
      );
    }
  }
  const size = tf.util.sizeFromShape(w.shape);
  const values = [a.l2, a.beta1, 1 - a.beta1, a.beta2, 1 - a.beta2, a.c1, a.c2, a.lr, a.eps, a.decay];
  const uniforms: ProgramUniforms = values.map((value) => ({ type: 'float32' as const, data: [value] }));
  const backend = args.backend as tf.KernelBackend;
  // flat views of the four inputs: the programs index elements only
  const flat = (t: tf.TensorInfo): tf.TensorInfo => ({ ...t, shape: [size] });
  const inputs = [w, g, m, v].map(flat);
  return OUTPUTS.map((output) => {
    const out = runProgram(backend, new AdamStepProgram(size, output), inputs, uniforms);
    return { ...out, shape: w.shape };
  });
}
