import { FunctionBuilder, I32, L } from './assembler';
import { locals } from './program';
import { splitTiles, type SimdModule } from './runtime';

// Copies of NHWC images into zero-padded ones, so that the convolution kernels have no edge cases: the body
// (whole rows at a time with bulk memory operations) and its JavaScript sides.

/**
 * `padCopy(src, dst, nFrom, nTo, H, rowIn, Hp, rowOut, top, left, copy)`, all i32 (sizes in bytes except H, Hp,
 * top): copies images n in [nFrom, nTo) of an NHWC tensor (H rows of rowIn bytes) into zero-padded images of Hp
 * rows of rowOut bytes: padded row py holds source row py − top (zeros where that is outside the image), starting
 * `left` bytes in, `copy` bytes of it; the rest of the row is zeros. Bulk memory.copy / memory.fill per row.
 */
export function buildPadCopyFunction(): FunctionBuilder {
  const f = new FunctionBuilder(Array.from({ length: 11 }, () => I32));
  const [src, dst, nFrom, nTo, H, rowIn, Hp, rowOut, top, left, copy] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const [n, py, out, iy, tail] = locals(f, 5);
  f.get(rowOut).get(left).op('i32.sub').get(copy).op('i32.sub').set(tail);
  f.forRange(n, L(nFrom), L(nTo), 1, () => {
    f.forRange(py, 0, L(Hp), 1, () => {
      f.get(dst)
        .get(n)
        .get(Hp)
        .op('i32.mul')
        .get(py)
        .op('i32.add')
        .get(rowOut)
        .op('i32.mul', 'i32.add')
        .set(out);
      f.get(py).get(top).op('i32.sub').tee(iy).get(H).op('i32.lt_u'); // 0 <= iy < H (unsigned compare)
      f.if(() => {
        f.get(out).i32(0).get(left).op('memory.fill');
        f.get(out).get(left).op('i32.add');
        f.get(src).get(n).get(H).op('i32.mul').get(iy).op('i32.add').get(rowIn).op('i32.mul', 'i32.add');
        f.get(copy).op('memory.copy');
        f.get(out).get(left).op('i32.add').get(copy).op('i32.add').i32(0).get(tail).op('memory.fill');
      });
      f.get(py).get(top).op('i32.sub').get(H).op('i32.lt_u', 'i32.eqz');
      f.if(() => {
        f.get(out).i32(0).get(rowOut).op('memory.fill');
      });
    });
  });
  return f;
}

export interface PadGeometry {
  N: number;
  H: number;
  W: number;
  inChannels: number;
  /** The padded image: rows, columns, channels (a multiple of 4). */
  Hp: number;
  Wp: number;
  C: number;
  top: number;
  left: number;
}

/** copyPadded for channels already a multiple of 4: the padCopy kernel, split by images over the threads. */
export function copyPaddedSimd(simd: SimdModule, from: number, to: number, g: PadGeometry): void {
  const cols = Math.max(0, Math.min(g.W, g.Wp - g.left));
  const rowIn = g.W * g.C * 4;
  const shape = [g.H, rowIn, g.Hp, g.Wp * g.C * 4, g.top, Math.min(g.left, g.Wp) * g.C * 4, cols * g.C * 4];
  simd.run(
    'padCopy',
    splitTiles(g.N, simd.threads).map(([n0, n1]) => [from, to, n0, n1, ...shape]),
  );
}

/** Copies NHWC images at byte offset `from` into zero-padded [N, Hp, Wp, C] images at `to` (rows past Hp/Wp dropped). */
export function copyPadded(memory: WebAssembly.Memory, from: number, to: number, g: PadGeometry): void {
  const source = new Float32Array(memory.buffer, from, g.N * g.H * g.W * g.inChannels);
  const target = new Float32Array(memory.buffer, to, g.N * g.Hp * g.Wp * g.C);
  target.fill(0);
  const rows = Math.min(g.H, g.Hp - g.top);
  const cols = Math.min(g.W, g.Wp - g.left);
  for (let n = 0; n < g.N; n++) {
    for (let y = 0; y < rows; y++) {
      const src = (n * g.H + y) * g.W * g.inChannels;
      const dst = ((n * g.Hp + y + g.top) * g.Wp + g.left) * g.C;
      if (g.C === g.inChannels) {
        target.set(source.subarray(src, src + cols * g.C), dst);
      } else {
        for (let col = 0; col < cols; col++) {
          for (let c = 0; c < g.inChannels; c++)
            target[dst + col * g.C + c] = source[src + col * g.inChannels + c];
        }
      }
    }
  }
}
