import { describe, expect, it } from 'vitest';
import {
  cellCentres,
  cellDiagonal,
  correspondenceMasks,
  correspondenceMatrix,
  type ViewGeometry,
} from './pixel_pairs';

const whole: ViewGeometry = { top: 0, left: 0, height: 8, width: 8, flip: false };

/** The (i, j) pairs where the matrix holds 1. */
function pairs(matrix: Float32Array, cells: number): [number, number][] {
  const out: [number, number][] = [];
  matrix.forEach((value, k) => {
    expect(value === 0 || value === 1).toBe(true);
    if (value === 1) out.push([Math.floor(k / cells), k % cells]);
  });
  return out;
}

describe('pixel pairs', () => {
  it('places cell centres in source pixels, mirrored for a flipped view', () => {
    // an 8 x 8 crop on a 2 x 2 map: cells of 4 x 4 source pixels, centres at 2 and 6
    expect(Array.from(cellCentres(whole, 2, 2))).toEqual([2, 2, 6, 2, 2, 6, 6, 6]);
    // flipped: view column 0 shows the crop's right half
    expect(Array.from(cellCentres({ ...whole, flip: true }, 2, 2))).toEqual([6, 2, 2, 2, 6, 6, 2, 6]);
    // a 6 x 3 crop at (top 1, left 2) on a 3 x 1 map: rows of 2 pixels, one column of 3
    expect(Array.from(cellCentres({ top: 1, left: 2, height: 6, width: 3, flip: false }, 3, 1))).toEqual([
      3.5, 2, 3.5, 4, 3.5, 6,
    ]);
    expect(cellDiagonal(whole, 2, 2)).toBeCloseTo(Math.hypot(4, 4), 12);
  });

  it('pairs a view with its own flip only at mirrored cells', () => {
    const matrix = correspondenceMatrix(whole, { ...whole, flip: true }, 2, 2, 0.7);
    // cell 0 of view a (centre 2, 2) is cell 1 of the flipped view, and so on
    expect(pairs(matrix, 4)).toEqual([
      [0, 1],
      [1, 0],
      [2, 3],
      [3, 2],
    ]);
    // the same view: the diagonal
    expect(pairs(correspondenceMatrix(whole, whole, 2, 2, 0.7), 4)).toEqual([
      [0, 0],
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
  });

  it('normalises distances by the larger cell diagonal, so views of different scales pair up', () => {
    // view b: the 4 x 4 bottom-right quarter; its centres (5, 5), (7, 5), (5, 7), (7, 7); the larger diagonal is
    // a's, 4 sqrt(2) = 5.657, so the threshold 0.7 allows 3.96 source pixels
    const quarter: ViewGeometry = { top: 4, left: 4, height: 4, width: 4, flip: false };
    const matrix = correspondenceMatrix(whole, quarter, 2, 2, 0.7);
    // a's cell 0 (2, 2) is 4.24 from (5, 5): none; cell 1 (6, 2): (5, 5) and (7, 5) at 3.16, (5, 7) and (7, 7) at 5.10;
    // cell 2 (2, 6) likewise by symmetry; cell 3 (6, 6): all four within 1.42
    expect(pairs(matrix, 4)).toEqual([
      [1, 0],
      [1, 1],
      [2, 0],
      [2, 2],
      [3, 0],
      [3, 1],
      [3, 2],
      [3, 3],
    ]);
    // the threshold is inclusive: 3.16 / 5.657 = 0.559 pairs at exactly that ratio, not below it
    const ratio = Math.hypot(1, 3) / Math.hypot(4, 4);
    expect(correspondenceMatrix(whole, quarter, 2, 2, ratio)[1 * 4 + 0]).toBe(1);
    expect(correspondenceMatrix(whole, quarter, 2, 2, ratio - 1e-9)[1 * 4 + 0]).toBe(0);
    // disjoint crops far apart: no pairs at all
    const far = correspondenceMatrix(
      { top: 0, left: 0, height: 4, width: 4, flip: false },
      { top: 20, left: 20, height: 4, width: 4, flip: false },
      2,
      2,
      0.7,
    );
    expect(pairs(far, 4)).toEqual([]);
  });

  it('stacks one matrix per image and rejects bad input with clear errors', () => {
    const masks = correspondenceMasks([whole, whole], [whole, { ...whole, flip: true }], 2, 2, 0.7);
    expect(masks).toHaveLength(2 * 16);
    expect(Array.from(masks.subarray(0, 16))).toEqual(
      Array.from(correspondenceMatrix(whole, whole, 2, 2, 0.7)),
    );
    expect(Array.from(masks.subarray(16))).toEqual(
      Array.from(correspondenceMatrix(whole, { ...whole, flip: true }, 2, 2, 0.7)),
    );
    expect(() => correspondenceMasks([whole], [], 2, 2, 0.7)).toThrow(/1 and 0 geometries/);
    expect(() => correspondenceMatrix({ ...whole, width: 0 }, whole, 2, 2, 0.7)).toThrow(
      /positive height\/width/,
    );
    expect(() => correspondenceMatrix(whole, whole, 0, 2, 0.7)).toThrow(/two positive integers/);
  });
});
