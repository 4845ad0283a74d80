import { FunctionBuilder, L, V128 } from '../wasm/assembler';
import { eachChannelGroup, i32Function, locals, SUM_BLOCK_ROWS } from '../wasm/program';

// The WebAssembly bodies of ProjectBatchNormGradSums (which ProjectMoments runs too) and ProjectBatchNormDx; the
// JavaScript side is wasm.ts.

/**
 * `bnSums(dy, x, mean, from, to, C, total1, total2, block1, block2)`, all i32 (pointers in bytes), for dy and x
 * viewed as [rows, C] (C a multiple of 4): total1[c] += Σ_rows dy[row, c] and total2[c] += Σ_rows dy[row, c] ·
 * (x[row, c] − mean[c]) (BatchNorm's gradient sums), in blocks of SUM_BLOCK_ROWS rows like sumRows (block1,
 * block2: [C] scratch).
 */
export function buildBatchNormSumsFunction(): FunctionBuilder {
  const [f, [dy, x, mean, from, to, C, total1, total2, block1, block2]] = i32Function(
    'dy x mean from to C total1 total2 block1 block2',
  );
  const [rowBytes, r0, r, rEnd, dp, xp, cb] = locals(f, 7);
  const [zero, d] = [f.local(V128), f.local(V128)];
  f.get(C).i32(2).op('i32.shl').set(rowBytes);
  const eachChannel = (body: () => void) => eachChannelGroup(f, cb, rowBytes, body);
  const at = (pointer: number) => f.get(pointer).get(cb).op('i32.add');
  f.forRange(r0, L(from), L(to), SUM_BLOCK_ROWS, () => {
    eachChannel(() => {
      at(block1).get(zero).v128Store(0);
      at(block2).get(zero).v128Store(0);
    });
    // rEnd = min(r0 + block, to)
    f.get(r0).i32(SUM_BLOCK_ROWS).op('i32.add').set(rEnd);
    f.get(to).get(rEnd).get(rEnd).get(to).op('i32.gt_s', 'select').set(rEnd);
    f.forRange(r, L(r0), L(rEnd), 1, () => {
      f.get(r).get(rowBytes).op('i32.mul').tee(xp).get(dy).op('i32.add').set(dp);
      f.get(xp).get(x).op('i32.add').set(xp);
      eachChannel(() => {
        at(dp).v128Load(0).set(d);
        at(block1);
        at(block1).v128Load(0).get(d).op('f32x4.add').v128Store(0);
        at(block2);
        at(block2).v128Load(0);
        at(xp).v128Load(0);
        at(mean).v128Load(0).op('f32x4.sub');
        f.get(d).op('f32x4.mul', 'f32x4.add').v128Store(0);
      });
    });
    eachChannel(() => {
      at(total1);
      at(total1).v128Load(0);
      at(block1).v128Load(0).op('f32x4.add').v128Store(0);
      at(total2);
      at(total2).v128Load(0);
      at(block2).v128Load(0).op('f32x4.add').v128Store(0);
    });
  });
  return f;
}

/**
 * `bnDx(dy, x, out, from, to, C, A, B, M, K)`, all i32 (pointers in bytes), rows [from, to) of [rows, C] (C a
 * multiple of 4): out[row, c] = dy[row, c] · A[c] + (x[row, c] − M[c]) · B[c] + K[c] (BatchNorm's input
 * gradient in training mode, one pass).
 */
export function buildBatchNormDxFunction(): FunctionBuilder {
  const [f, [dy, x, out, from, to, C, A, B, M, K]] = i32Function('dy x out from to C A B M K');
  const [rowBytes, offset, first, end, cb] = locals(f, 5);
  const at = (pointer: number) => f.get(pointer).get(cb).op('i32.add');
  const atRow = (pointer: number) => f.get(pointer).get(offset).op('i32.add').get(cb).op('i32.add');
  f.get(C).i32(2).op('i32.shl').set(rowBytes);
  f.get(from).get(rowBytes).op('i32.mul').set(first);
  f.get(to).get(rowBytes).op('i32.mul').set(end);
  f.forRange(offset, L(first), L(end), L(rowBytes), () => {
    eachChannelGroup(f, cb, rowBytes, () => {
      atRow(out);
      atRow(dy).v128Load(0);
      at(A).v128Load(0).op('f32x4.mul');
      atRow(x).v128Load(0);
      at(M).v128Load(0).op('f32x4.sub');
      at(B).v128Load(0).op('f32x4.mul', 'f32x4.add');
      at(K).v128Load(0).op('f32x4.add');
      f.v128Store(0);
    });
  });
  return f;
}
