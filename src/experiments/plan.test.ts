import { describe, expect, it } from 'vitest';
import { EXPERIMENTS, experimentById } from './catalog';
import {
  estimateCost,
  experimentRuns,
  plannedEvals,
  plannedSteps,
  runKey,
  setPath,
  smokeConfig,
} from './plan';
import { finalEval, spectrumRank, stdRatio } from './history';
import { SCALES } from './types';
import { flatSpectrum, recorded } from './verdict_testing';

describe('experimentRuns', () => {
  it('plans the product of the axes, once per seed, as validated configs named after the run', () => {
    const runs = experimentRuns(experimentById('dcl-batch'), 'quick');
    expect(runs.map((run) => run.key)).toEqual([
      'loss=ntxent,batch=32,seed=0',
      'loss=ntxent,batch=128,seed=0',
      'loss=dcl,batch=32,seed=0',
      'loss=dcl,batch=128,seed=0',
      'loss=dclw,batch=32,seed=0',
      'loss=dclw,batch=128,seed=0',
    ]);
    const dclw = runs[5].config;
    expect(dclw.loss).toEqual({ id: 'dclw', params: { tau: 0.1, sigma: 0.5 } });
    expect(dclw.batchSize).toBe(128);
    expect(dclw.name).toBe('dcl-batch/loss=dclw,batch=128,seed=0');
    expect(dclw.dataset).toMatchObject({ id: 'fashion-mnist', trainLimit: 10_000 });
    // the full scale: 3 losses x 4 batch sizes x 3 seeds, on CIFAR-10 with ResNet-18
    const full = experimentRuns(experimentById('dcl-batch'), 'full');
    expect(full).toHaveLength(36);
    expect(new Set(full.map((run) => run.key)).size).toBe(36);
    expect(full[0].config.encoder).toEqual({
      type: 'resnet',
      widths: [64, 128, 256, 512],
      blocks: [2, 2, 2, 2],
    });
    expect(full.map((run) => run.seed).slice(0, 3)).toEqual([0, 1, 2]);
  });

  it('sets the arms of every experiment as the grid says (projector off, SimSiam switches, views)', () => {
    const collapse = experimentRuns(experimentById('dimensional-collapse'), 'quick');
    expect(collapse.map((run) => run.config.projector.layers)).toEqual([2, 0]);
    const simsiam = experimentRuns(experimentById('simsiam-collapse'), 'quick');
    expect(simsiam.map((run) => run.config.loss.params)).toEqual([
      { predHidden: 32, stopGradient: 1, predictor: 1 },
      { predHidden: 32, stopGradient: 0, predictor: 1 },
      { predHidden: 32, stopGradient: 1, predictor: 0 },
    ]);
    expect(simsiam[0].config.optimizer.type).toBe('sgd');
    const views = experimentRuns(experimentById('multi-view'), 'quick');
    expect(views.map((run) => `${run.config.loss.id}:${run.config.views.large}`)).toEqual([
      'mv_infonce:2',
      'mv_infonce:4',
      'mv_infonce:8',
      'mv_dhel:2',
      'mv_dhel:4',
      'mv_dhel:8',
    ]);
    const taus = experimentRuns(experimentById('temperature'), 'quick').map(
      (run) => run.config.loss.params.tau,
    );
    expect(taus).toEqual([0.07, 0.2, 0.5, 1.0]);
  });

  it('gives valid configs for every experiment at both scales, and applies a base override first', () => {
    for (const experiment of EXPERIMENTS) {
      for (const scale of SCALES) expect(experimentRuns(experiment, scale).length).toBeGreaterThanOrEqual(2);
    }
    const runs = experimentRuns(experimentById('temperature'), 'quick', {
      base: (base) => ({ ...base, epochs: 1, loss: { id: 'ntxent', params: { tau: 9 } } }),
    });
    expect(runs.map((run) => run.config.epochs)).toEqual([1, 1, 1, 1]);
    // the grid is applied after the override, so it still decides tau
    expect(runs.map((run) => run.config.loss.params.tau)).toEqual([0.07, 0.2, 0.5, 1.0]);
    expect(() =>
      experimentRuns(experimentById('temperature'), 'quick', { base: (base) => ({ ...base, batchSize: 1 }) }),
    ).toThrow(
      /experiment 'temperature' \(quick\), run tau=0\.07,seed=0: invalid RunConfig:\n {2}- batchSize/,
    );
  });

  it('smoke keeps what the grid varies and shrinks the rest to 2 steps on synthetic data', () => {
    const runs = experimentRuns(experimentById('dcl-batch'), 'full', { smoke: true });
    expect(runs).toHaveLength(12); // one seed
    const batch256 = runs.find((run) => run.key === 'loss=dcl,batch=256,seed=0');
    expect(batch256?.config).toMatchObject({
      batchSize: 256,
      epochs: 1,
      stepsPerEpoch: 2,
      dataset: { id: 'synthetic', synthetic: { trainCount: 256 } },
      loss: { id: 'dcl' },
    });
    expect(plannedSteps(batch256!.config)).toBe(2);
    expect(plannedEvals(batch256!.config)).toBe(3);
    const noProjector = smokeConfig({ projector: { layers: 0, hidden: 2048, out: 128, batchNorm: true } });
    expect(noProjector.projector).toEqual({ layers: 0, hidden: 16, out: 8, batchNorm: true });
  });

  it('makes keys safe as folder names and sets dotted paths', () => {
    expect(runKey({ loss: 'a/b c', tau: '0.5' }, 3)).toBe('loss=a_b_c,tau=0.5,seed=3');
    const target: Record<string, unknown> = { loss: { id: 'x' } };
    setPath(target, 'loss.params.tau', 0.2);
    setPath(target, 'views.large', 4);
    expect(target).toEqual({ loss: { id: 'x', params: { tau: 0.2 } }, views: { large: 4 } });
  });
});

describe('estimateCost', () => {
  it('counts steps as the Trainer does and images per view and per evaluation', () => {
    const runs = experimentRuns(experimentById('temperature'), 'quick');
    // 10,000 images / batch 128 = 78 steps an epoch (drop-last), 4 epochs
    expect(plannedSteps(runs[0].config)).toBe(312);
    // evaluations at 0, 78, 156, 234, 312
    expect(plannedEvals(runs[0].config)).toBe(5);
    expect(estimateCost(runs)).toEqual({
      runs: 4,
      steps: 4 * 312,
      trainImages: 4 * 312 * 128,
      viewImages: 4 * 312 * 128 * 2,
      evalImages: 4 * 5 * (3 * 2000 + 5000),
    });
    const views = estimateCost(experimentRuns(experimentById('multi-view'), 'quick'));
    // batch 64, 2 epochs of 156 steps, V = 2 + 4 + 8 for each of the two losses
    expect(views.viewImages).toBe(2 * 312 * 64 * (2 + 4 + 8));
    const full = experimentRuns(experimentById('supcon'), 'full');
    expect(plannedSteps(full[0].config)).toBe(200 * 195);
  });
});

describe('history', () => {
  it('std ratio and spectrum rank of closed-form spectra', () => {
    expect(stdRatio(flatSpectrum(10, 128, 1))).toBeCloseTo(1, 12);
    expect(stdRatio(flatSpectrum(10, 128, 0.01))).toBeCloseTo(0.1, 12);
    expect(stdRatio(new Array(16).fill(0))).toBe(0);
    // RankMe's 1e-7 per zero value adds ~2e-3 over 118 zeros
    expect(spectrumRank(flatSpectrum(10, 128))).toBeCloseTo(10, 2);
    expect(spectrumRank(flatSpectrum(1, 128))).toBeCloseTo(1, 2);
    // singular values 2, 1 (eigenvalues 4, 1): p = (2/3, 1/3), rank = exp(H)
    const h = -((2 / 3) * Math.log(2 / 3) + (1 / 3) * Math.log(1 / 3));
    expect(spectrumRank([4, 1])).toBeCloseTo(Math.exp(h), 5);
    expect(spectrumRank([0, 0])).toBe(0);
  });

  it('finalEval accepts only a completed run evaluated at its last step', () => {
    const [run] = recorded(experimentById('supcon'), () => ({}));
    expect('record' in finalEval(run)).toBe(true);
    expect(finalEval({ ...run, status: 'stopped' })).toEqual({
      problem: `run ${run.key} is stopped, not completed`,
    });
    const early = {
      ...run,
      history: { ...run.history, evals: [run.history.evals[0], { ...run.history.evals[1], step: 100 }] },
    };
    expect(finalEval(early)).toEqual({ problem: `run ${run.key} was last evaluated at step 100 of 312` });
  });
});
