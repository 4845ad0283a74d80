import { FunctionBuilder, L, V128 } from './assembler';
import { CONV_TILE_PIXELS, locals, TILE_IN, TILE_OUT } from './program';

// What the Winograd F(2x2, 3x3) kernels share (Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural
// Networks"): the emitter of the tile loops and transforms for the bodies (conv2d/wasm_body.ts,
// conv2d_backprop_filter/wasm_body.ts), and on the JavaScript side which convolutions fit, the filter transform
// and the blocking.

/** Winograd F(2x2, 3x3): output pixels per tile side, input pixels per tile side, transformed planes. */
export const WINOGRAD_OUT = 2;
const WINOGRAD_IN = 4;
export const WINOGRAD_PLANES = WINOGRAD_IN * WINOGRAD_IN;

/**
 * The loops and transforms both Winograd kernels share, on one function's locals: the image and tile-block loops,
 * and the per-tile transforms, each vectorised over 4 channels (NHWC keeps a pixel's channels contiguous).
 */
export class WinogradEmitter {
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

/** Tiles of 2x2 outputs per block of the Winograd kernels (their scratch: 16 planes of about this many tiles, in and out; a block spans images where they are smaller). */
const WINOGRAD_BLOCK_TILES = 64;

/**
 * Whether a convolution runs in Winograd form (winogradConv): 3x3, stride 1, an even output at least 8 wide (4
 * tiles: the 1x1 products need 4 pixels), input channels a multiple of 4 and at least 16 (fewer leave the
 * transforms as much work as the products), output channels a multiple of 8.
 */
export function winogradFits(
  FH: number,
  FW: number,
  sH: number,
  sW: number,
  OH: number,
  OW: number,
  C: number,
  O: number,
): boolean {
  return (
    FH === 3 &&
    FW === 3 &&
    sH === 1 &&
    sW === 1 &&
    OH % WINOGRAD_OUT === 0 &&
    OW % WINOGRAD_OUT === 0 &&
    OW >= WINOGRAD_OUT * CONV_TILE_PIXELS &&
    C % TILE_IN === 0 &&
    C >= 16 &&
    O % TILE_OUT === 0
  );
}

/** The filter transform u[ξ = 4a + b, c, o] = (G·g[·, ·, c, o]·Gᵀ)[a, b] of Winograd F(2x2, 3x3), g = [3, 3, C, O]. */
export function winogradFilter(g: ArrayLike<number>, C: number, O: number): Float32Array {
  const u = new Float32Array(WINOGRAD_PLANES * C * O);
  const CO = C * O;
  const t = new Float64Array(12);
  for (let k = 0; k < CO; k++) {
    // t = G·g (4x3): rows g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2 (g's rows)
    for (let j = 0; j < 3; j++) {
      const g0 = g[(0 * 3 + j) * CO + k];
      const g1 = g[(1 * 3 + j) * CO + k];
      const g2 = g[(2 * 3 + j) * CO + k];
      t[j] = g0;
      t[3 + j] = (g0 + g1 + g2) / 2;
      t[6 + j] = (g0 - g1 + g2) / 2;
      t[9 + j] = g2;
    }
    // u = t·Gᵀ (4x4): the same combination along each row of t
    for (let a = 0; a < 4; a++) {
      const [t0, t1, t2] = [t[3 * a], t[3 * a + 1], t[3 * a + 2]];
      const row = 4 * a;
      u[(row + 0) * CO + k] = t0;
      u[(row + 1) * CO + k] = (t0 + t1 + t2) / 2;
      u[(row + 2) * CO + k] = (t0 - t1 + t2) / 2;
      u[(row + 3) * CO + k] = t2;
    }
  }
  return u;
}

/**
 * Both Winograd kernels' blocking: 2x2-output tiles, tile rows per block (about WINOGRAD_BLOCK_TILES tiles), and
 * the byte strides of the 16 transformed planes of C (input side) and O (output side) channels per block, each one
 * cache line past the plane (16 planes 2^k bytes apart would fall in one cache set).
 */
export function winogradBlocks(g: { OH: number; OW: number; C: number; O: number }) {
  const tilesH = g.OH / WINOGRAD_OUT;
  const tilesW = g.OW / WINOGRAD_OUT;
  const blockRows = Math.max(1, Math.floor(WINOGRAD_BLOCK_TILES / tilesW));
  const plane = (channels: number) => blockRows * tilesW * channels * 4 + 64;
  return { tilesH, tilesW, blockRows, vPlane: plane(g.C), outPlane: plane(g.O) };
}
