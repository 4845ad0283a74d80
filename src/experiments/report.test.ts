import { describe, expect, it } from 'vitest';
import { experimentBundle, experimentById, reportHtml, reportMarkdown, venueYear } from './catalog';
import { lineChart, niceTicks } from './svg';
import { recorded, withFailure } from './verdict_testing';

const temperature = experimentById('temperature');
const taus = ['0.07', '0.2', '0.5', '1'];
const runs = recorded(temperature, (point) => {
  const i = taus.indexOf(point.tau);
  return { z: { uniformity: -3.4 + 0.4 * i, tolerance: 0.2 + 0.1 * i } };
});

describe('experimentBundle', () => {
  it('holds the definition, the scale, configs, compact histories, the cost and the verdict, as JSON', () => {
    const withExtras = runs.map((run) => ({
      ...run,
      history: {
        steps: run.history.steps.map((s) => ({ ...s, lr: 0.001, imagesPerSecond: 100 })),
        evals: run.history.evals.map((e) => ({
          ...e,
          pca: { h: [1, 2], z: [3, 4], labels: [0] },
          evalMs: 5,
        })),
      },
    }));
    const bundle = experimentBundle({
      experiment: temperature,
      scale: 'quick',
      runs: withExtras,
      environment: { backend: 'wasm (2 threads)' },
    });
    const parsed = JSON.parse(JSON.stringify(bundle));
    expect(parsed.format).toBe('contrastive-playground/experiment');
    expect(parsed.experiment.id).toBe('temperature');
    expect(parsed.experiment.rule.tolerance).toBe(temperature.verdict.tolerance);
    expect(parsed.experiment.rule.decide).toBeUndefined();
    expect(parsed.verdict.status).toBe('holds');
    expect(parsed.runs).toHaveLength(4);
    expect(parsed.runs[0].config.loss.params.tau).toBe(0.07);
    expect(Object.keys(parsed.runs[0].history.steps[0])).toEqual(['step', 'loss']);
    expect(Object.keys(parsed.runs[0].history.evals[1])).toEqual(['step', 'h', 'z']);
    expect(parsed.cost.runs).toBe(4);
    expect(parsed.grid[0].name).toBe('tau');
  });
});

describe('reportMarkdown', () => {
  it('states the claim, the paper, the verdict with its deciding metrics, the rule and every run', () => {
    const bundle = experimentBundle({ experiment: temperature, scale: 'quick', runs });
    const md = reportMarkdown(bundle);
    expect(md).toContain('# Temperature and the uniformity-tolerance dilemma (quick scale)');
    expect(md).toContain(`**Claim.** ${temperature.claim}`);
    expect(md).toContain(
      'F. Wang, H. Liu, "Understanding the Behaviour of Contrastive Loss", CVPR 2021, arXiv 2012.09740',
    );
    expect(md).toContain('## Verdict: holds');
    expect(md).toContain(bundle.verdict.observed);
    expect(md).toContain('| tau | uniformity(z) | tolerance(z) |');
    expect(md).toContain('| 0.07 | -3.40 | 0.200 |');
    expect(md).toContain(`**Not reproduced at this scale means.** ${temperature.verdict.notReproduced}`);
    for (const run of runs) expect(md).toContain(`| ${run.key} | completed | 312 / 312 |`);
    expect(md).not.toContain('Mechanics check');
  });

  it('names a failed run and its error, and marks a smoke run as saying nothing about the claim', () => {
    const failed = withFailure(runs, 'tau=1,seed=0', 'step 3 failed: boom');
    const md = reportMarkdown(
      experimentBundle({ experiment: temperature, scale: 'quick', runs: failed, smoke: true }),
    );
    expect(md).toContain('## Verdict: inconclusive');
    expect(md).toContain('| tau=1,seed=0 | error: step 3 failed: boom | 0 / 312 |');
    expect(md).toContain('Mechanics check (`--smoke`)');
  });
});

describe('reportHtml', () => {
  it('is one self-contained page: every plot as inline SVG, no script, no external resource', () => {
    const html = reportHtml(experimentBundle({ experiment: temperature, scale: 'quick', runs }));
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html.match(/<figure><svg /g)).toHaveLength(temperature.plots.length);
    expect(html).not.toMatch(/<script|<link|src=|href=|@import|url\(/);
    expect(html).toContain('Verdict: holds');
    expect(html).toContain('final uniformity(z) vs tau');
    expect(html).toContain('temperature tau (log scale)');
  });

  it('escapes text from the runs', () => {
    const evil = withFailure(runs, 'tau=1,seed=0', '<img src=x onerror=alert(1)>');
    const html = reportHtml(experimentBundle({ experiment: temperature, scale: 'quick', runs: evil }));
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });
});

describe('svg charts', () => {
  it('places points by value: the larger y is higher up the page', () => {
    const svg = lineChart({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      series: [
        {
          name: 's',
          markers: true,
          points: [
            [0, 0],
            [1, 10],
          ],
        },
      ],
    });
    const circles = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [
      Number(m[1]),
      Number(m[2]),
    ]);
    expect(circles).toHaveLength(2);
    expect(circles[1][0]).toBeGreaterThan(circles[0][0]);
    expect(circles[1][1]).toBeLessThan(circles[0][1]);
    expect(
      lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [] }] }),
    ).toContain('no data');
  });

  it('picks round ticks', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(-3.4, -2.1)).toEqual([-3.4, -3.2, -3, -2.8, -2.6, -2.4, -2.2]);
    expect(niceTicks(0, 312)).toEqual([0, 50, 100, 150, 200, 250, 300]);
    // a range ending a rounding error below zero gets its top tick at exactly 0, not at -6e-17
    expect(niceTicks(-1.02, -6e-17)).toEqual([-1, -0.8, -0.6, -0.4, -0.2, 0]);
    expect(niceTicks(-1.02, 0.01)).toContain(0);
  });
});

describe('the paper line', () => {
  it('puts the year after the venue unless the venue names its years (two papers)', () => {
    expect(venueYear(experimentById('supcon').paper)).toBe('NeurIPS 2020');
    const both = experimentById('redundancy-reduction');
    expect(venueYear(both.paper)).toBe('ICML 2021; ICLR 2022');
    expect(reportMarkdown(experimentBundle({ experiment: both, scale: 'quick', runs: [] }))).toContain(
      '"Barlow Twins',
    );
    expect(reportMarkdown(experimentBundle({ experiment: both, scale: 'quick', runs: [] }))).not.toContain(
      'ICLR 2022 2021',
    );
  });
});
