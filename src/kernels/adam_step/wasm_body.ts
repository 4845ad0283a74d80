import { F32, FunctionBuilder, I32, L, V128 } from '../wasm/assembler';
import { locals } from '../wasm/program';

// The WebAssembly body of ProjectAdamStep's SIMD kernel; the JavaScript side is wasm.ts.

/** The float32 constants of the Adam kernel, in memory in this order. */
export const ADAM_CONSTANTS = [
  'l2',
  'beta1',
  'oneMinusBeta1',
  'beta2',
  'oneMinusBeta2',
  'c1',
  'c2',
  'lr',
  'eps',
  'decay',
] as const;

/**
 * `adam(w, g, m, v, mOut, vOut, wOut, n, constants)`, all i32 (pointers in bytes; constants: ADAM_CONSTANTS as
 * float32): one Adam / AdamW update of n values, four at a time and the last n % 4 one by one, in the same order
 * of float32 operations as ops.ts's op-by-op adamStepReference:
 *
 *   gd = g + w · l2;  m' = m · β1 + gd · (1 − β1);  v' = v · β2 + (gd · gd) · (1 − β2)
 *   w' = (w − (m' / c1) / (√(v' / c2) + ε) · lr) − w · decay
 */
export function buildAdamFunction(): FunctionBuilder {
  const f = new FunctionBuilder(Array.from({ length: 9 }, () => I32));
  const [w, g, m, v, mOut, vOut, wOut, n, constants] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [i, at, vectorEnd] = locals(f, 3);
  const scalar = ADAM_CONSTANTS.map(() => f.local(F32));
  const vector = ADAM_CONSTANTS.map(() => f.local(V128));
  const [wv, gd, mNew, vNew] = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  const [ws, gds, mNews, vNews] = [f.local(F32), f.local(F32), f.local(F32), f.local(F32)];
  ADAM_CONSTANTS.forEach((_, k) => {
    f.get(constants)
      .f32Load(4 * k)
      .tee(scalar[k])
      .op('f32x4.splat')
      .set(vector[k]);
  });
  const c = (name: (typeof ADAM_CONSTANTS)[number], lanes: 'x4' | '1') =>
    (lanes === 'x4' ? vector : scalar)[ADAM_CONSTANTS.indexOf(name)];
  /** The update of one vector (x4) or one value (1) at byte offset `at`. */
  const update = (lanes: 'x4' | '1') => {
    const t = lanes === 'x4' ? 'f32x4' : 'f32';
    const op = (name: string) => f.op(`${t}.${name}` as Parameters<FunctionBuilder['op']>[0]);
    const load = (pointer: number) => {
      f.get(pointer).get(at).op('i32.add');
      if (lanes === 'x4') f.v128Load(0);
      else f.f32Load(0);
    };
    const store = (pointer: number, value: number) => {
      f.get(pointer).get(at).op('i32.add').get(value);
      if (lanes === 'x4') f.v128Store(0);
      else f.f32Store(0);
    };
    const [wl, gdl, ml, vl] = lanes === 'x4' ? [wv, gd, mNew, vNew] : [ws, gds, mNews, vNews];
    load(w);
    f.set(wl);
    load(g);
    f.get(wl).get(c('l2', lanes));
    op('mul');
    op('add');
    f.set(gdl);
    load(m);
    f.get(c('beta1', lanes));
    op('mul');
    f.get(gdl).get(c('oneMinusBeta1', lanes));
    op('mul');
    op('add');
    f.set(ml);
    load(v);
    f.get(c('beta2', lanes));
    op('mul');
    f.get(gdl).get(gdl);
    op('mul');
    f.get(c('oneMinusBeta2', lanes));
    op('mul');
    op('add');
    f.set(vl);
    store(mOut, ml);
    store(vOut, vl);
    // w' = (w − (m' / c1) / (√(v' / c2) + ε) · lr) − w · decay
    f.get(wOut).get(at).op('i32.add');
    f.get(wl);
    f.get(ml).get(c('c1', lanes));
    op('div');
    f.get(vl).get(c('c2', lanes));
    op('div');
    op('sqrt');
    f.get(c('eps', lanes));
    op('add');
    op('div');
    f.get(c('lr', lanes));
    op('mul');
    op('sub');
    f.get(wl).get(c('decay', lanes));
    op('mul');
    op('sub');
    if (lanes === 'x4') f.v128Store(0);
    else f.f32Store(0);
  };
  // vectors up to the last whole one, then the rest one at a time
  f.get(n).i32(-4).op('i32.and').set(vectorEnd);
  f.forRange(i, 0, L(vectorEnd), 4, () => {
    f.get(i).i32(2).op('i32.shl').set(at);
    update('x4');
  });
  f.forRange(i, L(vectorEnd), L(n), 1, () => {
    f.get(i).i32(2).op('i32.shl').set(at);
    update('1');
  });
  return f;
}
