import { F32, FunctionBuilder, I32, L, V128 } from './assembler';

// The project's WebAssembly SIMD kernels, as code for the assembler. Their JavaScript sides (argument checks,
// tables, output allocation) are in the files named after each kernel.

/** Input channels per register tile (one splat each) and output channels (two f32x4 vectors). */
export const TILE_IN = 4;
export const TILE_OUT = 8;
/** i32 fields per tap in the table the JavaScript side writes: x offset, dy offset, rows, cols, dW offset. */
export const TAP_FIELDS = 5;

/**
 * The filter-gradient kernel, `filterGrad(x, dy, dw, images, taps, table, O, xImage, dyImage, xCol, xRow, dyRow,
 * ciFrom, ciTo, coFrom, coTo)`, all i32 (pointers and strides in bytes; the last four: the channel ranges
 * of dW this call computes, multiples of the tile, so that threads can split the work):
 *
 *   for each image n, each filter tap t (a row of `table`: x offset, dy offset, rows, cols, dW offset),
 *   each 4 x 8 tile (ci, co) of dW[tap]:
 *     acc = dW[tap][ci..ci+3][co..co+7]
 *     for each of the tap's rows x cols output pixels p (only those whose input pixel is inside the image):
 *       acc += x[n, input pixel of p, ci..ci+3] ⊗ dy[n, p, co..co+7]
 *     dW[tap][ci..ci+3][co..co+7] = acc
 *
 * The 4 x 8 accumulator stays in eight v128 registers for the whole pixel loop (per pixel: two vector loads of dy,
 * four splat loads of x, eight multiplies and eight adds), and one image's x and dy (the working set of all its
 * taps and tiles) stay in the core's cache, so memory is read about once. C must be a multiple of 4, O of 8.
 */
export function buildFilterGradFunction(): FunctionBuilder {
  const names = 'x dy dw images taps table O xImage dyImage xCol xRow dyRow ciFrom ciTo coFrom coTo'.split(
    ' ',
  );
  const f = new FunctionBuilder(names.map(() => I32));
  const [x, dy, dw, images, taps, table, O, xImage, dyImage, xCol, xRow, dyRow, ciFrom, ciTo, coFrom, coTo] =
    names.map((_, i) => i);
  const [n, t, tp, xBase, dyBase, dwBase, rows, colBytes, outBytes] = locals(f, 9);
  const [ci, co, accPtr, xr, dr, r, xp, dp, dEnd] = locals(f, 9);
  const acc = Array.from({ length: TILE_IN * 2 }, () => f.local(V128));
  const [d0, d1, a] = [f.local(V128), f.local(V128), f.local(V128)];

  // accPtr = dwBase + (ci * O + co) * 4, then walks the tile's rows of dW (O floats apart)
  const tileStart = () => {
    f.get(dwBase)
      .get(ci)
      .get(O)
      .op('i32.mul')
      .get(co)
      .op('i32.add')
      .i32(2)
      .op('i32.shl', 'i32.add')
      .set(accPtr);
  };
  const eachAccRow = (visit: (q: number) => void) => {
    for (let q = 0; q < TILE_IN; q++) {
      visit(q);
      if (q < TILE_IN - 1) f.get(accPtr).get(outBytes).op('i32.add').set(accPtr);
    }
  };
  const pixelLoop = () => {
    f.loop(() => {
      f.get(dp).v128Load(0).set(d0);
      f.get(dp).v128Load(16).set(d1);
      for (let q = 0; q < TILE_IN; q++) {
        f.get(xp)
          .load32Splat(4 * q)
          .set(a);
        f.get(acc[2 * q])
          .get(a)
          .get(d0)
          .op('f32x4.mul', 'f32x4.add')
          .set(acc[2 * q]);
        f.get(acc[2 * q + 1])
          .get(a)
          .get(d1)
          .op('f32x4.mul', 'f32x4.add')
          .set(acc[2 * q + 1]);
      }
      f.get(xp).get(xCol).op('i32.add').set(xp);
      f.get(dp).get(outBytes).op('i32.add').tee(dp).get(dEnd).op('i32.ne').brIf(0);
    });
  };
  const tile = () => {
    tileStart();
    eachAccRow((q) => {
      f.get(accPtr)
        .v128Load(0)
        .set(acc[2 * q]);
      f.get(accPtr)
        .v128Load(16)
        .set(acc[2 * q + 1]);
    });
    f.get(xBase).get(ci).i32(2).op('i32.shl', 'i32.add').set(xr);
    f.get(dyBase).get(co).i32(2).op('i32.shl', 'i32.add').set(dr);
    f.forRange(r, 0, L(rows), 1, () => {
      f.get(xr).set(xp);
      f.get(dr).tee(dp).get(colBytes).op('i32.add').set(dEnd);
      pixelLoop();
      f.get(xr).get(xRow).op('i32.add').set(xr);
      f.get(dr).get(dyRow).op('i32.add').set(dr);
    });
    tileStart();
    eachAccRow((q) => {
      f.get(accPtr)
        .get(acc[2 * q])
        .v128Store(0);
      f.get(accPtr)
        .get(acc[2 * q + 1])
        .v128Store(16);
    });
  };

  f.get(O).i32(2).op('i32.shl').set(outBytes);
  f.forRange(n, 0, L(images), 1, () => {
    f.forRange(t, 0, L(taps), 1, () => {
      f.get(table)
        .get(t)
        .i32(TAP_FIELDS * 4)
        .op('i32.mul', 'i32.add')
        .set(tp);
      f.get(x).get(n).get(xImage).op('i32.mul', 'i32.add').get(tp).i32Load(0).op('i32.add').set(xBase);
      f.get(dy).get(n).get(dyImage).op('i32.mul', 'i32.add').get(tp).i32Load(4).op('i32.add').set(dyBase);
      f.get(tp).i32Load(8).set(rows);
      f.get(tp).i32Load(12).get(outBytes).op('i32.mul').set(colBytes);
      f.get(dw).get(tp).i32Load(16).op('i32.add').set(dwBase);
      f.forRange(ci, L(ciFrom), L(ciTo), TILE_IN, () => {
        f.forRange(co, L(coFrom), L(coTo), TILE_OUT, tile);
      });
    });
  });
  return f;
}

/** `count` new i32 locals. */
function locals(f: FunctionBuilder, count: number): number[] {
  return Array.from({ length: count }, () => f.local(I32));
}

/** A function of i32 parameters named in `names` (space-separated): it, and the parameters' indices in order. */
function i32Function(names: string): [FunctionBuilder, number[]] {
  const params = names.split(' ');
  return [new FunctionBuilder(params.map(() => I32)), params.map((_, i) => i)];
}

/** for (cb = 0; cb != rowBytes; cb += 16) body: every 4-channel group of a row (rowBytes > 0, a multiple of 16). */
function eachChannelGroup(f: FunctionBuilder, cb: number, rowBytes: number, body: () => void): void {
  f.i32(0).set(cb);
  f.loop(() => {
    body();
    f.get(cb).i32(16).op('i32.add').tee(cb).get(rowBytes).op('i32.ne').brIf(0);
  });
}

/** Output pixels per register tile of the forward convolution (along a row), and output channels (two vectors). */
export const CONV_TILE_PIXELS = 4;

/**
 * The forward-convolution kernel, `conv(x, w, out, bias, nFrom, nTo, OH, OW, O, xImage, xRow, rowStep, colStep,
 * FH, rowTaps, relu, outImage, outRow, outPixel)`, all i32 (pointers and strides in bytes), on an input already
 * padded so that every tap of every output pixel is inside it (a 'valid' convolution). The output strides let
 * it write every s-th pixel of every s-th row (a phase of a strided input gradient); a plain NHWC output has
 * outPixel = 4·O, outRow = OW·outPixel, outImage = OH·outRow:
 *
 *   for each image n in [nFrom, nTo), each block of 8 output channels co, each output row oy,
 *   each block of 4 output pixels along the row (the last block shifted left to end at the row's end):
 *     acc[q] = bias[co..co+7] (zero when bias is 0)
 *     for each filter row kh, each k < rowTaps (= FW·C: the filter row's columns and input channels, which are
 *     contiguous both in an NHWC image row and in w [FH, FW, C, O]):
 *       acc[q] += x[n, oy·sH + kh, ox_q·sW + k / C, k % C] · w[kh, k / C, k % C, co..co+7]
 *     out[n, oy, ox_q, co..co+7] = relu ? max(acc[q], 0) : acc[q]
 *
 * The 4 x 8 accumulator stays in eight v128 registers (per k: two vector loads of w, four splat loads of x, eight
 * multiplies and eight adds). Needs O a multiple of 8 and OW >= 4; C (any) is folded into rowTaps.
 */
export function buildConvForwardFunction(): FunctionBuilder {
  const [f, params] = i32Function(
    'x w out bias nFrom nTo OH OW O xImage xRow rowStep colStep FH rowTaps relu outImage outRow outPixel',
  );
  const [x, w, out, bias, nFrom, nTo, OH, OW, O, xImage, xRow, rowStep, colStep, FH, rowTaps, relu] = params;
  const [outImage, outRow0, outPixel] = params.slice(16);
  const [n, co, oy, oxb, ox0, lastBlock, outBytes, rowBase, outRow, pix, kh, xp, wp, kEnd] = locals(f, 14);
  const [c1, c2, c3] = locals(f, 3);
  const acc = Array.from({ length: CONV_TILE_PIXELS * 2 }, () => f.local(V128));
  const [w0, w1, a, bias0, bias1, lowest] = Array.from({ length: 6 }, () => f.local(V128));

  f.get(O).i32(2).op('i32.shl').set(outBytes);
  f.get(OW).i32(CONV_TILE_PIXELS).op('i32.sub').set(lastBlock);
  f.get(colStep).tee(c1).get(colStep).op('i32.add').tee(c2).get(colStep).op('i32.add').set(c3);
  // the floor of the output: 0 for relu, -Infinity (no change; NaN stays NaN) for linear
  f.f32(0).f32(-Infinity).get(relu).op('select', 'f32x4.splat').set(lowest);
  const splatX = (q: number) => {
    f.get(xp);
    if (q > 0) f.get([c1, c2, c3][q - 1]).op('i32.add');
    f.load32Splat(0).set(a);
  };
  const tile = () => {
    // ox0 = min(oxb, OW - 4)
    f.get(lastBlock).get(oxb).get(oxb).get(lastBlock).op('i32.gt_s', 'select').set(ox0);
    f.get(rowBase).get(ox0).get(colStep).op('i32.mul', 'i32.add').set(pix);
    for (let q = 0; q < CONV_TILE_PIXELS; q++) {
      f.get(bias0).set(acc[2 * q]);
      f.get(bias1).set(acc[2 * q + 1]);
    }
    f.get(w).get(co).i32(2).op('i32.shl', 'i32.add').set(wp);
    f.forRange(kh, 0, L(FH), 1, () => {
      f.get(pix).get(kh).get(xRow).op('i32.mul', 'i32.add').tee(xp);
      f.get(rowTaps).i32(2).op('i32.shl', 'i32.add').set(kEnd);
      f.loop(() => {
        f.get(wp).v128Load(0).set(w0);
        f.get(wp).v128Load(16).set(w1);
        for (let q = 0; q < CONV_TILE_PIXELS; q++) {
          splatX(q);
          f.get(acc[2 * q])
            .get(a)
            .get(w0)
            .op('f32x4.mul', 'f32x4.add')
            .set(acc[2 * q]);
          f.get(acc[2 * q + 1])
            .get(a)
            .get(w1)
            .op('f32x4.mul', 'f32x4.add')
            .set(acc[2 * q + 1]);
        }
        f.get(wp).get(outBytes).op('i32.add').set(wp);
        f.get(xp).i32(4).op('i32.add').tee(xp).get(kEnd).op('i32.ne').brIf(0);
      });
    });
    // store: out row pointer at ox0, outPixel bytes apart
    f.get(outRow).get(ox0).get(outPixel).op('i32.mul', 'i32.add').set(xp);
    for (let q = 0; q < CONV_TILE_PIXELS; q++) {
      f.get(xp)
        .get(acc[2 * q])
        .get(lowest)
        .op('f32x4.max')
        .v128Store(0);
      f.get(xp)
        .get(acc[2 * q + 1])
        .get(lowest)
        .op('f32x4.max')
        .v128Store(16);
      if (q < CONV_TILE_PIXELS - 1) f.get(xp).get(outPixel).op('i32.add').set(xp);
    }
  };

  f.forRange(n, L(nFrom), L(nTo), 1, () => {
    f.forRange(co, 0, L(O), TILE_OUT, () => {
      f.get(bias).if(() => {
        f.get(bias).get(co).i32(2).op('i32.shl', 'i32.add').v128Load(0).set(bias0);
        f.get(bias).get(co).i32(2).op('i32.shl', 'i32.add').v128Load(16).set(bias1);
      });
      f.forRange(oy, 0, L(OH), 1, () => {
        f.get(x).get(n).get(xImage).op('i32.mul', 'i32.add').get(oy).get(rowStep).op('i32.mul', 'i32.add');
        f.set(rowBase);
        f.get(out)
          .get(n)
          .get(outImage)
          .op('i32.mul', 'i32.add')
          .get(oy)
          .get(outRow0)
          .op('i32.mul', 'i32.add');
        f.get(co).i32(2).op('i32.shl', 'i32.add').set(outRow);
        f.forRange(oxb, 0, L(OW), CONV_TILE_PIXELS, tile);
      });
    });
  });
  return f;
}

/** The per-element operations of the channelwise kernels: v is x[row, c..c+3]; P, Q, R are [C] vectors. */
export const CHANNELWISE_OPS = {
  /** BatchNorm with precomputed per-channel factors: (v − mean) · (scale / √(var + ε)) + offset. */
  batchNorm: 'batchNorm',
  mul: 'mul',
  add: 'add',
  /** v − P */
  sub: 'sub',
  /** P − v */
  rsub: 'rsub',
  /** P (x unread: a per-channel vector repeated over the rows) */
  broadcast: 'broadcast',
} as const;
export type ChannelwiseOp = keyof typeof CHANNELWISE_OPS;

/**
 * `op(x, out, from, to, C, P, Q, R)`, all i32 (pointers in bytes): for rows in [from, to) of x viewed as [rows, C]
 * (C a multiple of 4), out[row, c] = op(x[row, c], P[c], Q[c], R[c]) four channels at a time. Memory-bound; what
 * matters is one pass with vector loads and stores instead of tfjs-backend-wasm's broadcasting element loops.
 */
export function buildChannelwiseFunction(op: ChannelwiseOp): FunctionBuilder {
  const f = new FunctionBuilder(Array.from({ length: 8 }, () => I32));
  const [x, out, from, to, C, P, Q, R] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [row, rowBytes, xp, op_, cb, end] = locals(f, 6);
  const v = f.local(V128);
  const param = (pointer: number) => f.get(pointer).get(cb).op('i32.add').v128Load(0);
  f.get(C).i32(2).op('i32.shl').set(rowBytes);
  f.forRange(row, L(from), L(to), 1, () => {
    f.get(x).get(row).get(rowBytes).op('i32.mul', 'i32.add').set(xp);
    f.get(out).get(row).get(rowBytes).op('i32.mul', 'i32.add').set(op_);
    f.i32(0).set(cb);
    f.get(rowBytes).set(end);
    f.loop(() => {
      if (op !== 'broadcast') f.get(xp).get(cb).op('i32.add').v128Load(0).set(v);
      f.get(op_).get(cb).op('i32.add');
      switch (op) {
        case 'broadcast':
          param(P);
          break;
        case 'batchNorm':
          f.get(v);
          param(P).op('f32x4.sub');
          param(Q).op('f32x4.mul');
          param(R).op('f32x4.add');
          break;
        case 'mul':
          f.get(v);
          param(P).op('f32x4.mul');
          break;
        case 'add':
          f.get(v);
          param(P).op('f32x4.add');
          break;
        case 'sub':
          f.get(v);
          param(P).op('f32x4.sub');
          break;
        case 'rsub':
          param(P).get(v).op('f32x4.sub');
          break;
      }
      f.v128Store(0);
      f.get(cb).i32(16).op('i32.add').tee(cb).get(end).op('i32.ne').brIf(0);
    });
  });
  return f;
}

/** Rows summed into registers before they are added to the running total (bounds the float32 rounding error). */
export const SUM_BLOCK_ROWS = 64;

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
 * of float32 operations as optim.ts's op-by-op update:
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

/** Winograd F(2x2, 3x3): output pixels per tile side, input pixels per tile side, transformed planes. */
export const WINOGRAD_OUT = 2;
const WINOGRAD_IN = 4;
export const WINOGRAD_PLANES = WINOGRAD_IN * WINOGRAD_IN;

/**
 * The loops and transforms both Winograd kernels share, on one function's locals: the image and tile-block loops,
 * and the per-tile transforms, each vectorised over 4 channels (NHWC keeps a pixel's channels contiguous).
 */
class WinogradEmitter {
  readonly n: number;
  readonly T: number;
  private readonly tyb: number;
  private readonly tyEnd: number;
  private readonly ty: number;
  private readonly tx: number;
  private readonly c: number;
  private readonly tile: number;
  private readonly base: number;
  private readonly q: number;
  private readonly p: number[];
  private readonly imageIndex: number;
  private readonly rowBase: number;
  private readonly d: number[];
  private readonly t: number[];

  constructor(private readonly f: FunctionBuilder) {
    [this.n, this.T, this.tyb, this.tyEnd, this.ty, this.tx, this.c, this.tile, this.base, this.q] = locals(
      f,
      10,
    );
    this.p = locals(f, 3);
    [this.imageIndex, this.rowBase] = locals(f, 2);
    this.d = Array.from({ length: WINOGRAD_PLANES }, () => f.local(V128));
    this.t = Array.from({ length: WINOGRAD_PLANES }, () => f.local(V128));
  }

  private sub(a: number, b: number): FunctionBuilder {
    return this.f.get(a).get(b).op('f32x4.sub');
  }

  private add(a: number, b: number): FunctionBuilder {
    return this.f.get(a).get(b).op('f32x4.add');
  }

  /**
   * The tile rows of images [nFrom, nTo) in blocks of `blockRows` (a block may span images: small images fill a
   * block with several): body per block, with T = the block's tiles.
   */
  blocks(
    nFrom: number,
    nTo: number,
    tilesH: number,
    tilesW: number,
    blockRows: number,
    body: () => void,
  ): void {
    const { f, tyb, tyEnd, T, n } = this;
    // rows g in [nFrom·tilesH, nTo·tilesH): n = g / tilesH
    f.get(nTo).get(tilesH).op('i32.mul').set(n);
    f.forRange(tyb, L(this.first(nFrom, tilesH)), L(n), L(blockRows), () => {
      // tyEnd = min(tyb + blockRows, nTo·tilesH); T = (tyEnd − tyb)·tilesW
      f.get(tyb).get(blockRows).op('i32.add').set(tyEnd);
      f.get(n).get(tyEnd).get(tyEnd).get(n).op('i32.gt_s', 'select').tee(tyEnd);
      f.get(tyb).op('i32.sub').get(tilesW).op('i32.mul').set(T);
      body();
    });
  }

  /** A local holding nFrom·tilesH. */
  private first(nFrom: number, tilesH: number): number {
    const { f, q } = this;
    f.get(nFrom).get(tilesH).op('i32.mul').set(q);
    return q;
  }

  /**
   * For each tile of the block (tile index from 0) and each 4-channel group (byte offset c < bytes): base is
   * `image + n·imageBytes + 2·ty·rowBytes + 2·tx·pixelBytes`, the tile's top-left pixel (row g = n·tilesH + ty).
   */
  private eachTile(
    image: number,
    imageBytes: number,
    rowBytes: number,
    pixelBytes: number,
    tilesH: number,
    tilesW: number,
    bytes: number,
    body: () => void,
  ): void {
    const { f, tyb, tyEnd, ty, tx, c, tile, base, imageIndex, rowBase } = this;
    f.i32(0).set(tile);
    f.forRange(ty, L(tyb), L(tyEnd), 1, () => {
      // rowBase = image + (g / tilesH)·imageBytes + 2·(g % tilesH)·rowBytes
      f.get(ty).get(tilesH).op('i32.div_u').set(imageIndex);
      f.get(image).get(imageIndex).get(imageBytes).op('i32.mul', 'i32.add');
      f.get(ty).get(imageIndex).get(tilesH).op('i32.mul', 'i32.sub').get(rowBytes).op('i32.mul');
      f.i32(1).op('i32.shl', 'i32.add').set(rowBase);
      f.forRange(tx, 0, L(tilesW), 1, () => {
        f.get(rowBase).get(tx).get(pixelBytes).op('i32.mul').i32(1).op('i32.shl', 'i32.add').set(base);
        f.forRange(c, 0, L(bytes), 16, body);
        f.get(tile).i32(1).op('i32.add').set(tile);
      });
    });
  }

  /** Stores vectors `values` (16) of the current tile and channel group into planes at `planes`, `plane` bytes apart. */
  private storePlanes(planes: number, plane: number, pixelBytes: number, values: number[]): void {
    const { f, tile, c, q } = this;
    f.get(planes).get(tile).get(pixelBytes).op('i32.mul', 'i32.add').get(c).op('i32.add').set(q);
    values.forEach((value, k) => {
      f.get(q).get(value).v128Store(0);
      if (k < values.length - 1) f.get(q).get(plane).op('i32.add').set(q);
    });
  }

  /** V[ξ, t, c] = (Bᵀ·d_t·B)[ξ] for every tile's 4x4 input patch d_t (x padded: rows 2·tilesH + 2). */
  inputTransform(
    x: number,
    xImage: number,
    xRow: number,
    cBytes: number,
    tilesH: number,
    tilesW: number,
    v: number,
    vPlane: number,
  ): void {
    const { f, base, c, q, p, d, t } = this;
    this.eachTile(x, xImage, xRow, cBytes, tilesH, tilesW, cBytes, () => {
      f.get(base).get(c).op('i32.add').tee(q);
      f.get(xRow).op('i32.add').tee(p[0]).get(xRow).op('i32.add').tee(p[1]).get(xRow).op('i32.add').set(p[2]);
      [q, ...p].forEach((row, r) => {
        for (let s = 0; s < 4; s++) {
          f.get(row);
          for (let k = 0; k < s; k++) f.get(cBytes).op('i32.add');
          f.v128Load(0).set(d[r * 4 + s]);
        }
      });
      // t = Bᵀ·d (down the columns), then V = t·B (along the rows)
      for (let s = 0; s < 4; s++) {
        this.sub(d[s], d[8 + s]).set(t[s]);
        this.add(d[4 + s], d[8 + s]).set(t[4 + s]);
        this.sub(d[8 + s], d[4 + s]).set(t[8 + s]);
        this.sub(d[4 + s], d[12 + s]).set(t[12 + s]);
      }
      for (let i = 0; i < 4; i++) {
        const r = i * 4;
        this.sub(t[r], t[r + 2]).set(d[r]);
        this.add(t[r + 1], t[r + 2]).set(d[r + 1]);
        this.sub(t[r + 2], t[r + 1]).set(d[r + 2]);
        this.sub(t[r + 1], t[r + 3]).set(d[r + 3]);
      }
      this.storePlanes(v, vPlane, cBytes, d);
    });
  }

  /** Ŷ[ξ, t, o] = (A·dy_t·Aᵀ)[ξ] for every tile's 2x2 output gradient dy_t (A = [[1, 0], [1, 1], [1, −1], [0, −1]]). */
  outputGradTransform(
    dy: number,
    dyImage: number,
    dyRow: number,
    oBytes: number,
    tilesH: number,
    tilesW: number,
    yhat: number,
    yPlane: number,
  ): void {
    const { f, base, c, q, d, t } = this;
    this.eachTile(dy, dyImage, dyRow, oBytes, tilesH, tilesW, oBytes, () => {
      f.get(base).get(c).op('i32.add').tee(q).v128Load(0).set(d[0]);
      f.get(q).get(oBytes).op('i32.add').v128Load(0).set(d[1]);
      f.get(q).get(dyRow).op('i32.add').tee(q).v128Load(0).set(d[2]);
      f.get(q).get(oBytes).op('i32.add').v128Load(0).set(d[3]);
      // down the columns: rows y0, y0 + y1, y0 − y1, −y1 (t[4r + s], s < 2)
      for (let s = 0; s < 2; s++) {
        f.get(d[s]).set(t[s]);
        this.add(d[s], d[2 + s]).set(t[4 + s]);
        this.sub(d[s], d[2 + s]).set(t[8 + s]);
        f.get(d[2 + s])
          .op('f32x4.neg')
          .set(t[12 + s]);
      }
      // along the rows: the same combination of columns 0 and 1
      for (let r = 0; r < 4; r++) {
        const k = 4 * r;
        f.get(t[k]).set(d[k]);
        this.add(t[k], t[k + 1]).set(d[k + 1]);
        this.sub(t[k], t[k + 1]).set(d[k + 2]);
        f.get(t[k + 1])
          .op('f32x4.neg')
          .set(d[k + 3]);
      }
      this.storePlanes(yhat, yPlane, oBytes, d);
    });
  }

  /** out[2x2 pixels of tile t] = Aᵀ·M[·, t]·A (Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]). */
  outputTransform(
    m: number,
    mPlane: number,
    oBytes: number,
    tilesH: number,
    tilesW: number,
    out: number,
    outImage: number,
    outRow: number,
  ): void {
    const { f, base, c, q, p, d, t, tile } = this;
    this.eachTile(out, outImage, outRow, oBytes, tilesH, tilesW, oBytes, () => {
      f.get(m).get(tile).get(oBytes).op('i32.mul', 'i32.add').get(c).op('i32.add').set(q);
      for (let k = 0; k < WINOGRAD_PLANES; k++) {
        f.get(q).v128Load(0).set(d[k]);
        if (k < WINOGRAD_PLANES - 1) f.get(q).get(mPlane).op('i32.add').set(q);
      }
      // t[0..3] = rows 0 + 1 + 2, t[4..7] = rows 1 − 2 − 3 (Aᵀ·M)
      for (let s = 0; s < 4; s++) {
        this.add(d[s], d[4 + s])
          .get(d[8 + s])
          .op('f32x4.add')
          .set(t[s]);
        this.sub(d[4 + s], d[8 + s])
          .get(d[12 + s])
          .op('f32x4.sub')
          .set(t[4 + s]);
      }
      f.get(base).get(c).op('i32.add').tee(q).get(outRow).op('i32.add').set(p[0]);
      [q, p[0]].forEach((row, i) => {
        const r = i * 4;
        f.get(row);
        this.add(t[r], t[r + 1])
          .get(t[r + 2])
          .op('f32x4.add')
          .v128Store(0);
        f.get(row).get(oBytes).op('i32.add');
        this.sub(t[r + 1], t[r + 2])
          .get(t[r + 3])
          .op('f32x4.sub')
          .v128Store(0);
      });
    });
  }
}

/**
 * The 3x3 stride-1 convolution in Winograd's F(2x2, 3x3) form (Lavin & Gray 2016, "Fast Algorithms for
 * Convolutional Neural Networks"), `winograd(x, u, out, v, m, nFrom, nTo, tilesH, tilesW, C, O, xImage, xRow,
 * outImage, outRow, blockRows, vPlane, mPlane)`, all i32 (pointers and strides in bytes), on an input padded for
 * a 'valid' convolution (rows 2·tilesH + 2, columns 2·tilesW + 2, C channels, a multiple of 4) and a filter
 * already transformed, u = G·g·Gᵀ as [16, C, O] (O a multiple of 8):
 *
 *   for each image n in [nFrom, nTo), each block of `blockRows` tile rows:
 *     V[ξ, t, c] = (Bᵀ·d_t·B)[ξ] for the 4x4 input patch d_t of every 2x2 output tile t
 *     M[ξ] = V[ξ] · u[ξ]                 (16 products [T, C]·[C, O], each a 1x1 call of `conv`, function convIndex)
 *     out[tile t] = Aᵀ·M[·, t]·A           (the 2x2 outputs)
 *
 * 16 multiply-adds per 4 outputs per (c, o) instead of 36; v and m are this call's scratch: 16 planes of
 * blockRows·tilesW tiles x C (O) floats, `vPlane` (`mPlane`) bytes apart, so that the transformed tiles stay in
 * cache between the three steps (planes a power of two apart would share cache sets: pad them).
 */
export function buildWinogradFunction(convIndex: number): FunctionBuilder {
  const [f, params] = i32Function(
    'x u out v m nFrom nTo tilesH tilesW C O xImage xRow outImage outRow blockRows vPlane mPlane',
  );
  const [x, u, out, v, m, nFrom, nTo, tilesH, tilesW, C, O, xImage, xRow, outImage, outRow, blockRows] =
    params;
  const [vPlane, mPlane] = params.slice(16);
  const [xi, cBytes, oBytes] = locals(f, 3);
  const w = new WinogradEmitter(f);
  f.get(C).i32(2).op('i32.shl').set(cBytes);
  f.get(O).i32(2).op('i32.shl').set(oBytes);
  w.blocks(nFrom, nTo, tilesH, tilesW, blockRows, () => {
    w.inputTransform(x, xImage, xRow, cBytes, tilesH, tilesW, v, vPlane);
    // M[ξ] = V[ξ]·u[ξ]: conv(x, w, out, bias, nFrom, nTo, OH, OW, O, xImage, xRow, rowStep, colStep, FH, rowTaps,
    // relu, outImage, outRow, outPixel) as one row of T pixels and a 1x1 filter
    f.forRange(xi, 0, WINOGRAD_PLANES, 1, () => {
      f.get(v).get(xi).get(vPlane).op('i32.mul', 'i32.add');
      f.get(u).get(xi).get(C).op('i32.mul').get(oBytes).op('i32.mul', 'i32.add');
      f.get(m).get(xi).get(mPlane).op('i32.mul', 'i32.add');
      f.i32(0).i32(0).i32(1).i32(1).get(w.T).get(O).i32(0).i32(0).i32(0).get(cBytes).i32(1).get(C).i32(0);
      f.i32(0).i32(0).get(oBytes);
      f.call(convIndex);
    });
    w.outputTransform(m, mPlane, oBytes, tilesH, tilesW, out, outImage, outRow);
  });
  return f;
}

/**
 * The filter gradient of a 3x3 stride-1 convolution in Winograd form, `winogradFilterGrad(x, dy, uhat, v, yhat,
 * table, nFrom, nTo, tilesH, tilesW, C, O, xImage, xRow, dyImage, dyRow, blockRows, vPlane, yPlane)`: with the
 * forward y = Aᵀ·[(G·g·Gᵀ) ⊙ (Bᵀ·d·B)]·A per tile, dL/dg = Gᵀ·[Σ_t (Bᵀ·d_t·B) ⊙ (A·dy_t·Aᵀ)]·G, so
 *
 *   for each image n in [nFrom, nTo), each block of tile rows:
 *     V[ξ, t, c] = (Bᵀ·d_t·B)[ξ],  Ŷ[ξ, t, o] = (A·dy_t·Aᵀ)[ξ]
 *     uhat[ξ] += V[ξ]ᵀ·Ŷ[ξ]         (16 products, one call of `filterGrad`, function filterGradIndex, with 16 taps)
 *
 * and the caller sums the threads' uhat and applies Gᵀ·uhat·G. `table` is this call's own 16-row tap table
 * (rewritten per block: the last block may be shorter).
 */
export function buildWinogradFilterGradFunction(filterGradIndex: number): FunctionBuilder {
  const [f, params] = i32Function(
    'x dy uhat v yhat table nFrom nTo tilesH tilesW C O xImage xRow dyImage dyRow blockRows vPlane yPlane',
  );
  const [x, dy, uhat, v, yhat, table, nFrom, nTo, tilesH, tilesW, C, O, xImage, xRow, dyImage, dyRow] =
    params;
  const [blockRows, vPlane, yPlane] = params.slice(16);
  const [xi, cBytes, oBytes, row] = locals(f, 4);
  const w = new WinogradEmitter(f);
  f.get(C).i32(2).op('i32.shl').set(cBytes);
  f.get(O).i32(2).op('i32.shl').set(oBytes);
  w.blocks(nFrom, nTo, tilesH, tilesW, blockRows, () => {
    w.inputTransform(x, xImage, xRow, cBytes, tilesH, tilesW, v, vPlane);
    w.outputGradTransform(dy, dyImage, dyRow, oBytes, tilesH, tilesW, yhat, yPlane);
    // the tap table: plane ξ is a tap of one row of T pixels [ξ·vPlane, ξ·yPlane, 1, T, ξ·C·O·4]
    f.forRange(xi, 0, WINOGRAD_PLANES, 1, () => {
      f.get(table)
        .get(xi)
        .i32(TAP_FIELDS * 4)
        .op('i32.mul', 'i32.add')
        .set(row);
      f.get(row).get(xi).get(vPlane).op('i32.mul').i32Store(0);
      f.get(row).get(xi).get(yPlane).op('i32.mul').i32Store(4);
      f.get(row).i32(1).i32Store(8);
      f.get(row).get(w.T).i32Store(12);
      f.get(row).get(xi).get(C).op('i32.mul').get(oBytes).op('i32.mul').i32Store(16);
    });
    // filterGrad(x, dy, dw, images, taps, table, O, xImage, dyImage, xCol, xRow, dyRow, ciFrom, ciTo, coFrom, coTo)
    f.get(v).get(yhat).get(uhat).i32(1).i32(WINOGRAD_PLANES).get(table).get(O).i32(0).i32(0).get(cBytes);
    f.i32(0).i32(0).i32(0).get(C).i32(0).get(O);
    f.call(filterGradIndex);
  });
  return f;
}
