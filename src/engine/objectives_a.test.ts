// The Trainer with the staged, regression and mixup objectives (mcl, supremix, m3col): stages on the events,
// regression targets and metrics, and checkpoints that resume exactly.
import { describe, expect, it } from 'vitest';
import { parseRunConfig, type RunConfigInput } from './config';
import { openDataset } from './data/index';
import type { EngineEvent, EvalEvent, StepEvent } from './events';
import { Trainer } from './trainer';
import { tinyConfig } from './trainer_testing';

async function makeTrainer(overrides: RunConfigInput, events: EngineEvent[] = []) {
  const config = parseRunConfig(tinyConfig(overrides));
  const dataset = await openDataset({ id: 'synthetic', seed: config.seed, ...config.dataset.synthetic });
  return Trainer.create(config, { dataset, onEvent: (e) => events.push(e) });
}

const steps = (events: EngineEvent[]) => events.filter((e): e is StepEvent => e.type === 'step');
const evals = (events: EngineEvent[]) => events.filter((e): e is EvalEvent => e.type === 'eval');

/** The losses of a run straight through, and of the same run stopped at `at`, checkpointed and resumed. */
async function resumedCurves(
  overrides: RunConfigInput,
  at: number,
): Promise<{ full: number[]; resumed: number[] }> {
  const full: EngineEvent[] = [];
  const a = await makeTrainer(overrides, full);
  expect(await a.run()).toBe('completed');
  a.dispose();
  const first: EngineEvent[] = [];
  const b = await makeTrainer(overrides, first);
  expect(await b.run({ untilStep: at })).toBe('yielded');
  const bytes = await b.checkpoint();
  b.dispose();
  const second: EngineEvent[] = [];
  const c = await makeTrainer(overrides, second);
  c.restore(bytes);
  expect(await c.run()).toBe('completed');
  c.dispose();
  return {
    full: steps(full).map((e) => e.loss),
    resumed: [...steps(first), ...steps(second)].map((e) => e.loss),
  };
}

describe('Trainer with mcl', () => {
  const mcl: RunConfigInput = {
    loss: { id: 'mcl', params: { stages: 2, clusters: 3, stageSteps: 4, tau: 0.5 } },
    eval: { every: 4, size: 32, bankSize: 64, knnK: 10, pca: false },
  };

  it('reports the stage on step and eval events and evaluates the concatenation of the stages', async () => {
    const events: EngineEvent[] = [];
    const trainer = await makeTrainer(mcl, events);
    expect(trainer.totalSteps).toBe(8);
    expect(await trainer.run()).toBe('completed');
    expect(steps(events).map((e) => e.stage)).toEqual([1, 1, 1, 1, 2, 2, 2, 2]);
    const all = evals(events);
    expect(all.map((e) => [e.step, e.stage])).toEqual([
      [0, 1],
      [4, 1],
      [8, 2],
    ]);
    // convnet [4, 8]: h has 8 features per stage
    expect(all[1].h.spectrum).toHaveLength(8);
    expect(all[2].h.spectrum).toHaveLength(16);
    expect(all[2].z.spectrum).toHaveLength(8);
    const exported = await trainer.embedTestFeatures(10);
    expect(exported.dim).toBe(16);
    expect(exported.vectors).toHaveLength(160);
    trainer.dispose();
  });

  it('resumes from a checkpoint inside stage 2 and from one at the stage boundary exactly', async () => {
    for (const at of [4, 6]) {
      const { full, resumed } = await resumedCurves(mcl, at);
      expect(resumed).toHaveLength(8);
      resumed.forEach((value, i) => expect(value).toBeCloseTo(full[i], 5));
    }
  });

  it('fails the run, naming the fix, when a stage has fewer images than clusters', async () => {
    const events: EngineEvent[] = [];
    const trainer = await makeTrainer(
      {
        ...mcl,
        dataset: {
          id: 'synthetic',
          trainLimit: 8,
          synthetic: { classes: 4, trainCount: 64, testCount: 32, size: 8 },
        },
        loss: { id: 'mcl', params: { stages: 2, clusters: 9 } },
        epochs: 3,
      },
      events,
    );
    expect(await trainer.run()).toBe('error');
    const error = events.find((e) => e.type === 'error');
    expect(error && error.type === 'error' && error.message).toMatch(
      /before step 2: mcl: 8 training images cannot fill 9 clusters; lower loss.params.clusters/,
    );
    trainer.dispose();
  });
});

describe('Trainer with regression targets and supremix', () => {
  it("trains supremix on the synthetic shapes' size and reports regression metrics next to kNN accuracy", async () => {
    const events: EngineEvent[] = [];
    const trainer = await makeTrainer(
      {
        dataset: {
          id: 'synthetic',
          target: 'size',
          synthetic: { classes: 4, trainCount: 64, testCount: 32, size: 8 },
        },
        loss: { id: 'supremix' },
        eval: { every: 4, size: 32, bankSize: 64, knnK: 10, pca: false },
      },
      events,
    );
    expect(await trainer.run()).toBe('completed');
    for (const e of evals(events)) {
      expect(e.regression).toBeDefined();
      expect(e.regression!.knnMae).toBeGreaterThan(0);
      expect(e.regression!.knnMae).toBeLessThan(14); // the targets lie in [28, 42]
      expect(Number.isFinite(e.regression!.knnR2)).toBe(true);
      expect(Number.isFinite(e.regression!.linearR2)).toBe(true);
      expect(e.h.knnTop1).toBeGreaterThanOrEqual(0);
    }
    expect(steps(events).every((e) => Number.isFinite(e.loss) && e.stage === undefined)).toBe(true);
    trainer.dispose();
  });

  it('rotation targets: a run resumes exactly, and a run without a target has no regression metrics', async () => {
    const rotation: RunConfigInput = {
      dataset: {
        id: 'synthetic',
        target: 'rotation',
        maxRotation: 30,
        synthetic: { classes: 4, trainCount: 64, testCount: 32, size: 8 },
      },
      loss: { id: 'supremix', params: { window: 10 } },
      epochs: 0.75,
    };
    const { full, resumed } = await resumedCurves(rotation, 3);
    expect(resumed).toHaveLength(6);
    resumed.forEach((value, i) => expect(value).toBeCloseTo(full[i], 5));

    const events: EngineEvent[] = [];
    const plain = await makeTrainer(
      { epochs: 0.25, eval: { every: 0, size: 32, bankSize: 64, knnK: 10, pca: false } },
      events,
    );
    await plain.run();
    expect(evals(events).at(-1)!.regression).toBeUndefined();
    plain.dispose();
  });
});

describe('Trainer with m3col', () => {
  it('trains on a view and its edge map with a second encoder, reports the phase and resumes exactly', async () => {
    const overrides: RunConfigInput = {
      loss: { id: 'm3col', params: { modality: 1, separateEncoder: 1, mixupFraction: 0.5 } },
      epochs: 0.75,
    };
    const events: EngineEvent[] = [];
    const trainer = await makeTrainer(overrides, events);
    expect(await trainer.run()).toBe('completed');
    expect(steps(events).map((e) => e.stage)).toEqual([1, 1, 1, 2, 2, 2]);
    trainer.dispose();
    const { full, resumed } = await resumedCurves(overrides, 2);
    resumed.forEach((value, i) => expect(value).toBeCloseTo(full[i], 5));
  });
});
