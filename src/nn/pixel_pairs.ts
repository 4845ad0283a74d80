// Pixel correspondences between two views of one image (PixPro's positive pixel pairs, the dense diagnostic).
// Plain numbers, no tfjs: the trainer knows every view's crop box and flip, so the pairs are computed on the CPU.

/**
 * Where a view came from in its source image: the crop box in source pixels (rows [top, top + height), columns
 * [left, left + width)) and whether it was flipped horizontally after cropping.
 */
export interface ViewGeometry {
  top: number;
  left: number;
  height: number;
  width: number;
  flip: boolean;
}

/**
 * Centres of the cells of an h x w feature map of a view, in source-image pixels, row-major: [x0, y0, x1, y1, ...].
 * Cell (r, c) covers the view's rows [r H / h, (r + 1) H / h) and columns [c W / w, (c + 1) W / w), so its centre
 * is x = left + (c' + 1/2) width / w with c' = c (c' = w - 1 - c when flipped: view column 0 shows the crop's
 * right edge), y = top + (r + 1/2) height / h.
 */
export function cellCentres(view: ViewGeometry, h: number, w: number): Float64Array {
  const out = new Float64Array(2 * h * w);
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      const column = view.flip ? w - 1 - c : c;
      out[2 * (r * w + c)] = view.left + ((column + 0.5) * view.width) / w;
      out[2 * (r * w + c) + 1] = view.top + ((r + 0.5) * view.height) / h;
    }
  }
  return out;
}

/** The diagonal of one feature-map cell of a view, in source pixels: sqrt((width / w)^2 + (height / h)^2). */
export function cellDiagonal(view: ViewGeometry, h: number, w: number): number {
  return Math.hypot(view.width / w, view.height / h);
}

function checkGeometry(view: ViewGeometry, what: string): void {
  const sizes = [view.height, view.width];
  if (![view.top, view.left, ...sizes].every(Number.isFinite) || sizes.some((s) => s <= 0)) {
    throw new Error(
      `${what}: a view geometry needs finite top/left and positive height/width, got ${JSON.stringify(view)}`,
    );
  }
}

/**
 * PixPro's positive-pair matrix A for one image (Xie et al. 2021, eq. 1): A[i * hw + j] = 1 when cell i of view a
 * and cell j of view b are at most `threshold` apart in the source image, distances measured between cell centres
 * and divided by the larger of the two views' cell diagonals (so views of different scales compare), else 0.
 * Both views have an h x w map; the result is hw x hw, row i = a cell of view a.
 */
export function correspondenceMatrix(
  a: ViewGeometry,
  b: ViewGeometry,
  h: number,
  w: number,
  threshold: number,
): Float32Array {
  checkGeometry(a, 'correspondenceMatrix');
  checkGeometry(b, 'correspondenceMatrix');
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) {
    throw new Error(`correspondenceMatrix: the map size must be two positive integers, got ${h} x ${w}`);
  }
  const ca = cellCentres(a, h, w);
  const cb = cellCentres(b, h, w);
  const scale = Math.max(cellDiagonal(a, h, w), cellDiagonal(b, h, w));
  const cells = h * w;
  const out = new Float32Array(cells * cells);
  for (let i = 0; i < cells; i++) {
    for (let j = 0; j < cells; j++) {
      const distance = Math.hypot(ca[2 * i] - cb[2 * j], ca[2 * i + 1] - cb[2 * j + 1]);
      out[i * cells + j] = distance / scale <= threshold ? 1 : 0;
    }
  }
  return out;
}

/** correspondenceMatrix for every image of a batch, stacked: [N, hw, hw] row-major. */
export function correspondenceMasks(
  a: ViewGeometry[],
  b: ViewGeometry[],
  h: number,
  w: number,
  threshold: number,
): Float32Array {
  if (a.length !== b.length) {
    throw new Error(
      `correspondenceMasks: the two views have ${a.length} and ${b.length} geometries; pass one per image in each`,
    );
  }
  const cells = h * w;
  const out = new Float32Array(a.length * cells * cells);
  a.forEach((view, n) => out.set(correspondenceMatrix(view, b[n], h, w, threshold), n * cells * cells));
  return out;
}
