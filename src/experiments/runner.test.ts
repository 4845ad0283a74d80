import { describe, expect, it } from 'vitest';
import { openDataset } from '../engine/data/index';
import {
  EXPERIMENTS,
  experimentBundle,
  experimentById,
  plannedSteps,
  reportHtml,
  reportMarkdown,
} from './catalog';
import { runExperiment, trainRun } from './runner';
import { experimentRuns } from './plan';

/** Synthetic data only: the smoke configs use nothing else. */
const openSynthetic = async (
  spec: Parameters<typeof openDataset>[0] & { synthetic?: object },
  seed: number,
) => {
  if (spec.id !== 'synthetic') throw new Error(`the smoke test opens only synthetic data, got ${spec.id}`);
  return openDataset({ id: 'synthetic', seed, ...spec.synthetic });
};

// The quick scale of every experiment, end to end on the cpu backend: each run of its grid is built and trained
// (2 steps on tiny synthetic data), the verdict is computed from the recorded histories and both reports render.
describe('every experiment runs end to end (smoke)', () => {
  for (const experiment of EXPERIMENTS) {
    it(experiment.id, async () => {
      const opened: string[] = [];
      const results = await runExperiment(experiment, 'quick', {
        smoke: true,
        openDataset: (spec, seed) => {
          opened.push(`${spec.synthetic.trainCount}:${seed}`);
          return openSynthetic(spec, seed);
        },
      });
      const planned = experimentRuns(experiment, 'quick');
      expect(results.map((r) => r.key)).toEqual(planned.map((r) => r.key));
      for (const result of results) {
        expect(result.error, result.key).toBeUndefined();
        expect(result.status, result.key).toBe('completed');
        expect(result.totalSteps).toBe(plannedSteps(result.config));
        expect(result.history.steps.map((s) => s.step)).toEqual([1, 2]);
        expect(result.history.evals.map((e) => e.step)).toEqual([0, 1, 2]);
        expect(result.wallSeconds).toBeGreaterThan(0);
      }
      // one dataset per distinct synthetic set, shared by the runs on it
      expect(new Set(opened).size).toBe(opened.length);
      const bundle = experimentBundle({ experiment, scale: 'quick', runs: results, smoke: true });
      expect(['holds', 'does not hold', 'inconclusive']).toContain(bundle.verdict.status);
      expect(bundle.verdict.observed).toMatch(/^Observed: .+: (holds|does not hold|inconclusive)$/);
      expect(bundle.verdict.observed).not.toContain('n/a');
      expect(bundle.verdict.table.rows.length).toBeGreaterThan(0);
      expect(reportMarkdown(bundle)).toContain(`## Verdict: ${bundle.verdict.status}`);
      expect(reportHtml(bundle).match(/<svg /g)).toHaveLength(experiment.plots.length);
    });
  }
});

describe('trainRun', () => {
  it('returns a failed run as a result (status error, its message), not an exception', async () => {
    const [run] = experimentRuns(experimentById('supcon'), 'quick', { smoke: true });
    const dataset = await openSynthetic(
      { id: 'synthetic', synthetic: { ...run.config.dataset.synthetic, trainCount: 16 } },
      0,
    );
    // 16 images cannot fill a batch of 128
    const result = await trainRun(run, dataset);
    expect(result.status).toBe('error');
    expect(result.error).toMatch(/batchSize 128 is larger than the 16 training images/);
    expect(result.history.evals).toEqual([]);
  });
});
