import { describe, expect, it } from 'vitest';
import type { EvalEvent, MetricSet } from '../engine/events';
import { evalExtras } from './eval_extras';

const set = (knnTop1: number): MetricSet => ({
  alignment: 1,
  uniformity: -1,
  tolerance: 0.5,
  spectrum: [1],
  effectiveRank: 1,
  knnTop1,
});
const base: EvalEvent = {
  type: 'eval',
  step: 4,
  epoch: 1,
  h: set(0.5),
  z: set(0.4),
  linearProbeTop1: null,
  pca: null,
  evalMs: 1,
};

describe('evalExtras', () => {
  it('names the informative kNN and the dense consistency when the eval has them, nothing otherwise', () => {
    expect(evalExtras(base)).toBe('');
    expect(evalExtras({ ...base, informative: set(0.6125) })).toBe(', kNN(informative) 61.3%');
    const dense = { matched: 0.67123, unmatched: 0.6, pairsPerImage: 3, threshold: 0.7, images: 8 };
    expect(evalExtras({ ...base, dense })).toBe(', dense cosine 0.671 corresponding / 0.600 other');
    expect(evalExtras({ ...base, dense: { ...dense, matched: null } })).toBe('');
  });
});
