import { FunctionBuilder, L, V128 } from '../wasm/assembler';
import { eachChannelGroup, i32Function, locals, SUM_BLOCK_ROWS } from '../wasm/program';

// The WebAssembly body of Sum's and Mean's SIMD kernel over leading axes (ProjectMoments runs it too); the
// JavaScript side is wasm.ts.

/**
 * `sumRows(x, from, to, C, total, block)`, all i32 (pointers in bytes): total[c] += Σ_{row in [from, to)} x[row, c]
 * for x viewed as [rows, C] (C a multiple of 4), summed in blocks of SUM_BLOCK_ROWS rows (block: [C] scratch)
 * whose sums are then added to total, so no float32 sum runs over more than max(64, rows / 64) terms.
 */
export function buildSumRowsFunction(): FunctionBuilder {
  const [f, [x, from, to, C, total, block]] = i32Function('x from to C total block');
  const [rowBytes, r0, r, rEnd, xp, cb] = locals(f, 6);
  const zero = f.local(V128);
  f.get(C).i32(2).op('i32.shl').set(rowBytes);
  const eachChannel = (body: () => void) => eachChannelGroup(f, cb, rowBytes, body);
  f.forRange(r0, L(from), L(to), SUM_BLOCK_ROWS, () => {
    eachChannel(() => f.get(block).get(cb).op('i32.add').get(zero).v128Store(0));
    // rEnd = min(r0 + block, to)
    f.get(r0).i32(SUM_BLOCK_ROWS).op('i32.add').set(rEnd);
    f.get(to).get(rEnd).get(rEnd).get(to).op('i32.gt_s', 'select').set(rEnd);
    f.forRange(r, L(r0), L(rEnd), 1, () => {
      f.get(x).get(r).get(rowBytes).op('i32.mul', 'i32.add').set(xp);
      eachChannel(() => {
        f.get(block).get(cb).op('i32.add');
        f.get(block).get(cb).op('i32.add').v128Load(0);
        f.get(xp).get(cb).op('i32.add').v128Load(0);
        f.op('f32x4.add').v128Store(0);
      });
    });
    eachChannel(() => {
      f.get(total).get(cb).op('i32.add');
      f.get(total).get(cb).op('i32.add').v128Load(0);
      f.get(block).get(cb).op('i32.add').v128Load(0);
      f.op('f32x4.add').v128Store(0);
    });
  });
  return f;
}
