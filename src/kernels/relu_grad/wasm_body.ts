import { FunctionBuilder, I32, L, V128 } from '../wasm/assembler';
import { locals } from '../wasm/program';

// The WebAssembly body of ProjectReluGrad's SIMD kernel; the JavaScript side is wasm.ts.

/**
 * `reluGrad(dy, x, out, from, to)`, all i32 (pointers in bytes; from, to: element indices, multiples of 4):
 * out = dy · step(x) with step(x) = 1 where x > 0, NaN where x is NaN, else 0 (tfjs' Step), four at a time: the
 * ReLU gradient in one pass instead of Step, Cast and Multiply.
 */
export function buildReluGradFunction(): FunctionBuilder {
  const f = new FunctionBuilder(Array.from({ length: 5 }, () => I32));
  const [dy, x, out, from, to] = [0, 1, 2, 3, 4];
  const [i, at] = locals(f, 2);
  const [one, zero, xv] = [f.local(V128), f.local(V128), f.local(V128)];
  f.f32(1).op('f32x4.splat').set(one);
  f.forRange(i, L(from), L(to), 4, () => {
    f.get(i).i32(2).op('i32.shl').set(at);
    f.get(x).get(at).op('i32.add').v128Load(0).set(xv);
    f.get(out).get(at).op('i32.add');
    f.get(dy).get(at).op('i32.add').v128Load(0);
    f.get(xv).get(zero).op('f32x4.gt').get(one).op('v128.and');
    f.get(xv).get(xv).op('f32x4.ne', 'v128.or');
    f.op('f32x4.mul').v128Store(0);
  });
  return f;
}
