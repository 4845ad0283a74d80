import { FunctionBuilder, I32, L, V128 } from '../wasm/assembler';
import { i32Function, locals, TILE_IN, TILE_OUT } from '../wasm/program';
import { WINOGRAD_PLANES, WinogradEmitter } from '../wasm/winograd';

// The WebAssembly bodies of Conv2DBackpropFilter's SIMD kernels (the direct filter gradient and its Winograd
// form); their JavaScript side is wasm.ts.

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
