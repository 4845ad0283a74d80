import { REGRESSION_COLUMNS } from './regression_columns';
import { describe, expect, it } from 'vitest';
import { defaultRunConfig } from '../engine/config';
import type { EvalEvent, MetricSet } from '../engine/events';
import { historyCsv, historyJson } from './exports';
import type { MetricHistory } from './types';

const set = (alignment: number, knnTop1: number): MetricSet => ({
  alignment,
  uniformity: -2,
  tolerance: 0.5,
  spectrum: [2, 1],
  effectiveRank: 1.5,
  knnTop1,
});

const evalAt = (step: number, extra: Partial<EvalEvent>): EvalEvent => ({
  type: 'eval',
  step,
  epoch: step / 2,
  h: set(1, 0.2),
  z: set(0.9, 0.25),
  linearProbeTop1: null,
  pca: null,
  evalMs: 1,
  ...extra,
});

const rowsOf = (csv: string) => {
  const [head, ...lines] = csv.trim().split('\n');
  const header = head.split(',');
  return { header, rows: lines.map((l) => Object.fromEntries(l.split(',').map((c, i) => [header[i], c]))) };
};

describe('history exports of the objective diagnostics', () => {
  it("adds cmim's informative metrics as informative_* columns", () => {
    const history: MetricHistory = {
      steps: [{ step: 2, epoch: 1, loss: 3, lr: 0.001, imagesPerSecond: 50 }],
      evals: [evalAt(0, { informative: set(0.7, 0.4) }), evalAt(2, { informative: set(0.6, 0.55) })],
      revision: 0,
    };
    const { header, rows } = rowsOf(historyCsv(history));
    expect(header.filter((h) => h.startsWith('informative_'))).toEqual([
      'informative_alignment',
      'informative_uniformity',
      'informative_tolerance',
      'informative_effectiveRank',
      'informative_knnTop1',
    ]);
    expect(header.some((h) => h.startsWith('dense_'))).toBe(false);
    expect(rows[0]).toMatchObject({ step: '0', informative_knnTop1: '0.4', informative_alignment: '0.7' });
    expect(rows[1]).toMatchObject({ step: '2', loss: '3', informative_knnTop1: '0.55', h_knnTop1: '0.2' });
    const parsed = JSON.parse(historyJson({ id: 'r', config: defaultRunConfig() } as never, history));
    expect(parsed.history.evals[1].informative.knnTop1).toBe(0.55);
  });

  it("adds pixpro's dense consistency as dense_* columns, empty on rows without an eval", () => {
    const dense = { matched: 0.8, unmatched: 0.3, pairsPerImage: 12.5, threshold: 0.7, images: 32 };
    const history: MetricHistory = {
      steps: [
        { step: 1, epoch: 0.5, loss: 4, lr: 0.001, imagesPerSecond: 50 },
        { step: 2, epoch: 1, loss: 3, lr: 0.001, imagesPerSecond: 50 },
      ],
      evals: [evalAt(2, { dense })],
      revision: 0,
    };
    const { header, rows } = rowsOf(historyCsv(history));
    expect(header.slice(-3)).toEqual(['dense_matched', 'dense_unmatched', 'dense_pairs_per_image']);
    expect(header.some((h) => h.startsWith('informative_'))).toBe(false);
    expect(rows[0]).toMatchObject({ step: '1', dense_matched: '', dense_unmatched: '' });
    expect(rows[1]).toMatchObject({
      dense_matched: '0.8',
      dense_unmatched: '0.3',
      dense_pairs_per_image: '12.5',
    });
    const parsed = JSON.parse(historyJson({ id: 'r', config: defaultRunConfig() } as never, history));
    expect(parsed.history.evals[0].dense).toEqual(dense);
  });

  it('leaves the CSV of other runs as it was', () => {
    const history: MetricHistory = { steps: [], evals: [evalAt(0, {})], revision: 0 };
    const { header } = rowsOf(historyCsv(history));
    // the common columns end with the stage and regression columns; no informative_* or dense_* column follows
    expect(header.slice(-REGRESSION_COLUMNS.length)).toEqual([...REGRESSION_COLUMNS]);
    expect(header.filter((name) => /^(informative|dense)_/.test(name))).toEqual([]);
  });
});
