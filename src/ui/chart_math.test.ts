import { describe, expect, it } from 'vitest';
import { relativeToFirst, smooth } from './chart_math';

describe('loss smoothing', () => {
  it('is the identity at weight 0 and a debiased EMA otherwise', () => {
    expect(smooth([3, 1, 2], 0)).toEqual([3, 1, 2]);
    const s = smooth([10, 0, 0], 0.5);
    expect(s[0]).toBeCloseTo(10); // debiased: the first point is the value itself
    expect(s[1]).toBeCloseTo((0.5 * 5 + 0) / (1 - 0.25)); // m = 2.5 after two points, / 0.75
    expect(s[2]).toBeLessThan(s[1]);
    expect(smooth([1, NaN, 1], 0.9)).toEqual([1, NaN, 1].map((v, i) => (i === 1 ? NaN : expect.closeTo(1))));
  });

  it('scales each series by its first value', () => {
    expect(relativeToFirst([200, 100, 50])).toEqual([1, 0.5, 0.25]);
    expect(relativeToFirst([-4, -2])).toEqual([-1, -0.5]);
    expect(relativeToFirst([0, 0])).toEqual([0, 0]);
  });
});
