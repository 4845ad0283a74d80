import { describe, expect, it } from 'vitest';
import { alignUniform } from './align_uniform';
import { decideVerdict } from './bundle';
import { dclBatch } from './dcl_batch';
import { dimensionalCollapse } from './dimensional_collapse';
import { multiView } from './multi_view';
import { redundancyReduction } from './redundancy_reduction';
import { simsiamCollapse } from './simsiam_collapse';
import { supcon } from './supcon';
import { temperature } from './temperature';
import type { ExperimentDefinition, RunResult } from './types';
import { flatSpectrum, recorded, withFailure } from './verdict_testing';

function decide(definition: ExperimentDefinition, runs: RunResult[]) {
  return definition.verdict.decide(runs);
}

/** Every rule: a failed run or a run without a final evaluation makes the verdict inconclusive, naming it. */
function expectInconclusiveOnFailure(definition: ExperimentDefinition, runs: RunResult[]): void {
  const key = runs[runs.length - 1].key;
  const failed = decide(definition, withFailure(runs, key, 'the loss became NaN at step 7'));
  expect(failed.status).toBe('inconclusive');
  expect(failed.notes.join('\n')).toContain(`run ${key} failed: the loss became NaN at step 7`);
  expect(failed.observed).toMatch(/^Observed: .*: inconclusive$/);
  const unfinished = runs.map((run, i) =>
    i === 0 ? { ...run, history: { ...run.history, evals: run.history.evals.slice(0, 1) } } : run,
  );
  const verdict = decide(definition, unfinished);
  expect(verdict.status).toBe('inconclusive');
  expect(verdict.notes.join('\n')).toContain(`run ${runs[0].key} has no evaluation after training`);
}

describe('temperature (Wang & Liu): uniformity and tolerance rise with tau', () => {
  const taus = ['0.07', '0.2', '0.5', '1'];
  const runs = (uniformity: number[], tolerance: number[]) =>
    recorded(temperature, (point) => {
      const i = taus.indexOf(point.tau);
      return { z: { uniformity: uniformity[i], tolerance: tolerance[i] } };
    });

  it('holds when both rise, with a step back inside the tolerance, and prints the observed numbers', () => {
    const verdict = decide(temperature, runs([-3.41, -3.02, -3.04, -2.1], [0.21, 0.3, 0.42, 0.55]));
    expect(verdict.status).toBe('holds');
    expect(verdict.observed).toBe(
      'Observed: uniformity(z) -3.41 / -3.02 / -3.04 / -2.10 and tolerance(z) 0.210 / 0.300 / 0.420 / 0.550 for ' +
        'tau 0.07 / 0.2 / 0.5 / 1: holds',
    );
    expect(verdict.table.rows[0]).toEqual(['0.07', '-3.41', '0.210']);
  });

  it('does not hold when uniformity falls back by more than the tolerance, or tolerance does not rise', () => {
    expect(decide(temperature, runs([-3.41, -3.02, -3.2, -2.1], [0.21, 0.3, 0.42, 0.55])).status).toBe(
      'does not hold',
    );
    const flatTolerance = decide(temperature, runs([-3.41, -3.02, -2.5, -2.1], [0.3, 0.3, 0.3, 0.305]));
    expect(flatTolerance.status).toBe('does not hold');
    expect(flatTolerance.notes).toContain('tolerance(z) does not rise with tau');
    // the dilemma the other way round (more uniform at high tau) is not the claim
    expect(decide(temperature, runs([-2.1, -2.5, -3.0, -3.4], [0.21, 0.3, 0.42, 0.55])).status).toBe(
      'does not hold',
    );
  });

  it('is inconclusive when a run failed or was not evaluated after training', () => {
    expectInconclusiveOnFailure(temperature, runs([-3.41, -3.02, -2.5, -2.1], [0.21, 0.3, 0.42, 0.55]));
  });
});

describe('align-uniform (Wang & Isola): comparable or better kNN than NT-Xent', () => {
  const runs = (ntxent: number, au: number) =>
    recorded(alignUniform, (point) => ({ h: { knnTop1: point.loss === 'ntxent' ? ntxent : au } }));

  it('holds when align_uniform is better or within 1 point, not beyond', () => {
    expect(decide(alignUniform, runs(0.7, 0.72)).status).toBe('holds');
    const close = decide(alignUniform, runs(0.7, 0.692));
    expect(close.status).toBe('holds');
    expect(close.observed).toContain('kNN(h) 69.2% for align_uniform vs 70.0% for NT-Xent (-0.8 pp)');
    expect(decide(alignUniform, runs(0.7, 0.685)).status).toBe('does not hold');
  });

  it('is inconclusive on a failed run', () => expectInconclusiveOnFailure(alignUniform, runs(0.7, 0.72)));
});

describe('dcl-batch (Yeh et al.): DCL and DCLW beat NT-Xent most at the smallest batch', () => {
  const knn = (table: Record<string, Record<string, number>>) =>
    recorded(dclBatch, (point) => ({ h: { knnTop1: table[point.loss][point.batch] } }));

  it('holds when both beat NT-Xent at batch 32 by more than at batch 128', () => {
    const verdict = decide(
      dclBatch,
      knn({
        ntxent: { 32: 0.7, 128: 0.74 },
        dcl: { 32: 0.73, 128: 0.75 },
        dclw: { 32: 0.725, 128: 0.745 },
      }),
    );
    expect(verdict.status).toBe('holds');
    expect(verdict.observed).toContain('DCL - NT-Xent +3.0 pp at batch 32, +1.0 pp at batch 128');
    expect(verdict.table.rows).toEqual([
      ['32', '70.0%', '73.0%', '72.5%', '+3.0 pp', '+2.5 pp'],
      ['128', '74.0%', '75.0%', '74.5%', '+1.0 pp', '+0.5 pp'],
    ]);
  });

  it('does not hold when one of them does not beat NT-Xent at batch 32, or gains more at batch 128', () => {
    const tie = knn({
      ntxent: { 32: 0.7, 128: 0.74 },
      dcl: { 32: 0.703, 128: 0.74 },
      dclw: { 32: 0.725, 128: 0.745 },
    });
    const verdict = decide(dclBatch, tie);
    expect(verdict.status).toBe('does not hold');
    expect(verdict.notes[0]).toBe(
      'DCL: does not beat NT-Xent at batch 32; the gap there is at least the gap at batch 128',
    );
    const growing = knn({
      ntxent: { 32: 0.7, 128: 0.74 },
      dcl: { 32: 0.71, 128: 0.78 },
      dclw: { 32: 0.725, 128: 0.745 },
    });
    expect(decide(dclBatch, growing).status).toBe('does not hold');
  });

  it('averages the seeds of the full scale and compares its smallest and largest batch', () => {
    // seed 2 of DCL at batch 32 is low; the mean gap over seeds (+1.0 pp) still clears the tolerance
    const runs = recorded(
      dclBatch,
      (point, seed) => {
        const base = { 32: 0.7, 64: 0.72, 128: 0.74, 256: 0.75 }[Number(point.batch) as 32 | 64 | 128 | 256];
        const bonus =
          point.loss === 'ntxent' ? 0 : Number(point.batch) === 32 ? (seed === 2 ? -0.01 : 0.02) : 0.002;
        return { h: { knnTop1: base + bonus } };
      },
      'full',
    );
    expect(runs).toHaveLength(36);
    const verdict = decide(dclBatch, runs);
    expect(verdict.status).toBe('holds');
    expect(verdict.observed).toContain('+1.0 pp at batch 32, +0.2 pp at batch 256');
    expect(verdict.table.rows.map((row) => row[0])).toEqual(['32', '64', '128', '256']);
  });

  it('is inconclusive on a failed run', () =>
    expectInconclusiveOnFailure(
      dclBatch,
      knn({ ntxent: { 32: 0.7, 128: 0.74 }, dcl: { 32: 0.73, 128: 0.75 }, dclw: { 32: 0.73, 128: 0.75 } }),
    ));
});

describe('dimensional-collapse (Jing et al.): z collapses behind the projector, h without one', () => {
  const runs = (ranks: { hWith: number; zWith: number; hWithout: number }) =>
    recorded(dimensionalCollapse, (point) =>
      point.projector === 'mlp'
        ? { h: { spectrum: flatSpectrum(ranks.hWith, 128) }, z: { spectrum: flatSpectrum(ranks.zWith, 128) } }
        : {
            h: { spectrum: flatSpectrum(ranks.hWithout, 128) },
            z: { spectrum: flatSpectrum(ranks.hWithout, 128) },
          },
    );

  it('holds when r(h) > r(z) with the projector and r(h) falls without it', () => {
    const verdict = decide(dimensionalCollapse, runs({ hWith: 60, zWith: 20, hWithout: 15 }));
    expect(verdict.status).toBe('holds');
    expect(verdict.observed).toBe(
      'Observed: spectrum rank h 60.0 / z 20.0 with the projector, h 15.0 without it: holds',
    );
  });

  it('does not hold when either part fails (within 5% counts as no difference)', () => {
    const noShield = decide(dimensionalCollapse, runs({ hWith: 60, zWith: 20, hWithout: 58 }));
    expect(noShield.status).toBe('does not hold');
    expect(noShield.notes[1]).toBe('(2) without a projector h is not more collapsed than with one');
    expect(decide(dimensionalCollapse, runs({ hWith: 60, zWith: 58, hWithout: 15 })).status).toBe(
      'does not hold',
    );
  });

  it('is inconclusive on a failed run', () =>
    expectInconclusiveOnFailure(dimensionalCollapse, runs({ hWith: 60, zWith: 20, hWithout: 15 })));
});

describe('simsiam-collapse (Chen & He): each ablation collapses, SimSiam does not', () => {
  // std ratio = sqrt(total variance): 0.81 -> 0.9, 1e-4 -> 0.01, 0.25 -> 0.5, 0.04 -> 0.2
  const runs = (total: Record<string, number>) =>
    recorded(simsiamCollapse, (point) => ({
      z: {
        spectrum: flatSpectrum(4, 128, total[point.variant]),
        effectiveRank: total[point.variant] > 0.01 ? 40 : 1.1,
      },
    }));

  it('holds when the baseline stays spread and both ablations collapse', () => {
    const verdict = decide(
      simsiamCollapse,
      runs({ simsiam: 0.81, 'no-stop-gradient': 1e-4, 'no-predictor': 1e-4 }),
    );
    expect(verdict.status).toBe('holds');
    expect(verdict.observed).toBe(
      'Observed: std x sqrt(D) of norm(z) 0.900 (simsiam), 0.010 (no-stop-gradient), 0.010 (no-predictor); ' +
        'effective rank(z) 40.0 / 1.1 / 1.1: holds',
    );
  });

  it('does not hold when an ablation stays spread', () => {
    const verdict = decide(
      simsiamCollapse,
      runs({ simsiam: 0.81, 'no-stop-gradient': 1e-4, 'no-predictor': 0.25 }),
    );
    expect(verdict.status).toBe('does not hold');
    expect(verdict.notes).toEqual(['no-stop-gradient collapses', 'no-predictor does not collapse']);
  });

  it('is inconclusive when SimSiam itself collapsed or a run failed', () => {
    const verdict = decide(
      simsiamCollapse,
      runs({ simsiam: 0.04, 'no-stop-gradient': 1e-4, 'no-predictor': 1e-4 }),
    );
    expect(verdict.status).toBe('inconclusive');
    expect(verdict.notes[0]).toMatch(/SimSiam itself ends at s = 0\.200/);
    expectInconclusiveOnFailure(
      simsiamCollapse,
      runs({ simsiam: 0.81, 'no-stop-gradient': 1e-4, 'no-predictor': 1e-4 }),
    );
  });
});

describe('multi-view (Koromilas et al.): MV-DHEL ranks higher at V >= 5, both improve with V', () => {
  const runs = (rank8: { dhel: number; infonce: number }, knnGain: number) =>
    recorded(multiView, (point) => {
      const v = Number(point.views);
      const dhel = point.loss === 'mv_dhel';
      return {
        z: { effectiveRank: v === 8 ? (dhel ? rank8.dhel : rank8.infonce) : 30 },
        h: { knnTop1: 0.7 + (v === 8 ? knnGain : 0) },
      };
    });

  it('holds when MV-DHEL ranks higher at V = 8 and kNN rises from V = 2 to 8 for both', () => {
    const verdict = decide(multiView, runs({ dhel: 60, infonce: 40 }, 0.02));
    expect(verdict.status).toBe('holds');
    expect(verdict.observed).toBe(
      'Observed: effective rank(z) at V = 8: MV-DHEL 60.0 vs MV-InfoNCE 40.0; MV-InfoNCE kNN(h) V = 8 vs 2: ' +
        '+2.0 pp, MV-DHEL kNN(h) V = 8 vs 2: +2.0 pp: holds',
    );
  });

  it('does not hold on equal ranks at V = 8 or without a kNN gain from more views', () => {
    expect(decide(multiView, runs({ dhel: 41, infonce: 40 }, 0.02)).status).toBe('does not hold');
    expect(decide(multiView, runs({ dhel: 60, infonce: 40 }, 0.003)).status).toBe('does not hold');
  });

  it('is inconclusive on a failed run', () =>
    expectInconclusiveOnFailure(multiView, runs({ dhel: 60, infonce: 40 }, 0.02)));
});

describe('supcon (Khosla et al.): SupCon beats NT-Xent on the same encoder', () => {
  const runs = (ntxent: number, sup: number) =>
    recorded(supcon, (point) => ({ h: { knnTop1: point.loss === 'supcon' ? sup : ntxent } }));

  it('holds only for a gap above 1 point', () => {
    expect(decide(supcon, runs(0.72, 0.8)).status).toBe('holds');
    expect(decide(supcon, runs(0.72, 0.725)).status).toBe('does not hold');
    expect(decide(supcon, runs(0.72, 0.7)).status).toBe('does not hold');
  });

  it('is inconclusive on a failed run', () => expectInconclusiveOnFailure(supcon, runs(0.72, 0.8)));
});

describe('redundancy-reduction: Barlow Twins and VICReg rank higher than NT-Xent and match its kNN', () => {
  const runs = (values: Record<string, { rank: number; knn: number }>) =>
    recorded(redundancyReduction, (point) => ({
      z: { effectiveRank: values[point.loss].rank },
      h: { knnTop1: values[point.loss].knn },
    }));
  const good = {
    ntxent: { rank: 50, knn: 0.7 },
    barlow_twins: { rank: 200, knn: 0.69 },
    vicreg: { rank: 150, knn: 0.705 },
  };

  it('holds when both rank higher and are within 2 points of kNN', () => {
    const verdict = decide(redundancyReduction, runs(good));
    expect(verdict.status).toBe('holds');
    expect(verdict.table.rows).toEqual([
      ['NT-Xent', '50.0', '70.0%'],
      ['Barlow Twins', '200.0', '69.0%'],
      ['VICReg', '150.0', '70.5%'],
    ]);
  });

  it('does not hold when one falls behind in kNN or does not rank higher', () => {
    expect(decide(redundancyReduction, runs({ ...good, vicreg: { rank: 150, knn: 0.67 } })).status).toBe(
      'does not hold',
    );
    expect(decide(redundancyReduction, runs({ ...good, barlow_twins: { rank: 51, knn: 0.7 } })).status).toBe(
      'does not hold',
    );
  });

  it('is inconclusive on a failed run', () => expectInconclusiveOnFailure(redundancyReduction, runs(good)));
});

describe('decideVerdict', () => {
  it('turns a rule that throws into an inconclusive verdict naming the error', () => {
    const broken: ExperimentDefinition = {
      ...supcon,
      verdict: {
        ...supcon.verdict,
        decide: () => {
          throw new Error('no runs');
        },
      },
    };
    const verdict = decideVerdict(broken, []);
    expect(verdict.status).toBe('inconclusive');
    expect(verdict.observed).toBe('Observed: the verdict rule failed (no runs): inconclusive');
  });
});
