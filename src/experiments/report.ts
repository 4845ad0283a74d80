// report.md and report.html of an experiment bundle: the claim, the deciding metrics, the verdict, the plots. No tfjs.
import type { ExperimentBundle } from './bundle';
import { METRIC_NAMES, metricValue, pointKey } from './history';
import { escapeXml, lineChart, type ChartSeries } from './svg';
import { formatMetric } from './verdict';
import type { MetricKey, Paper, PlotSpec, RunResult } from './types';

/** Most points a step-loss line keeps in the HTML charts (evenly thinned; the JSON keeps every step). */
const MAX_LOSS_POINTS = 400;

/** "ICLR 2022"; a venue that already names its years (two papers: "ICML 2021; ICLR 2022") stays as it is. */
export function venueYear(paper: Paper): string {
  return paper.venue.includes(String(paper.year)) ? paper.venue : `${paper.venue} ${paper.year}`;
}

function paperLine(bundle: ExperimentBundle): string {
  const p = bundle.experiment.paper;
  return `${p.authors}, "${p.title}", ${venueYear(p)}, arXiv ${p.arxiv}`;
}

function seconds(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  return value >= 120 ? `${(value / 60).toFixed(1)} min` : `${value.toFixed(0)} s`;
}

function count(value: number): string {
  return value.toLocaleString('en-US');
}

/** One row per run: what it was, whether it finished, and its last numbers. */
function runRows(runs: RunResult[]): string[][] {
  return runs.map((run) => {
    const last = run.history.evals.at(-1);
    const lastStep = run.history.steps.at(-1);
    return [
      run.key,
      run.status + (run.error ? `: ${run.error}` : ''),
      `${lastStep?.step ?? 0} / ${run.totalSteps ?? '?'}`,
      lastStep ? lastStep.loss.toFixed(4) : '-',
      last ? formatMetric('knnTop1', last.h.knnTop1) : '-',
      last ? formatMetric('effectiveRank', last.z.effectiveRank) : '-',
      seconds(run.wallSeconds),
    ];
  });
}

const RUN_COLUMNS = ['run', 'status', 'steps', 'final loss', 'kNN(h)', 'effective rank(z)', 'wall time'];

function markdownTable(columns: string[], rows: string[][]): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return [
    `| ${columns.map(cell).join(' | ')} |`,
    `| ${columns.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
  ].join('\n');
}

function environmentLine(bundle: ExperimentBundle): string {
  const entries = Object.entries(bundle.environment);
  return entries.length > 0 ? entries.map(([key, value]) => `${key}: ${value}`).join('; ') : 'not recorded';
}

const SMOKE_NOTE =
  'Mechanics check (`--smoke`): every run of the grid trained 2 steps on a tiny synthetic set. The verdict below ' +
  'is computed as usual but says nothing about the claim.';

/** report.md: claim, paper, verdict with the metrics that decide it, the rule, the runs. */
export function reportMarkdown(bundle: ExperimentBundle): string {
  const { experiment, verdict, cost } = bundle;
  const lines = [
    `# ${experiment.title} (${bundle.scale} scale)`,
    '',
    ...(bundle.smoke ? [`> ${SMOKE_NOTE}`, ''] : []),
    `**Claim.** ${experiment.claim}`,
    '',
    `**Paper.** ${paperLine(bundle)}`,
    '',
    `**What the paper reports.** ${experiment.paperStatement}`,
    '',
    `## Verdict: ${verdict.status}`,
    '',
    verdict.observed,
    '',
    ...(verdict.table.columns.length > 0
      ? [markdownTable(verdict.table.columns, verdict.table.rows), '']
      : []),
    ...(verdict.notes.length > 0 ? [...verdict.notes.map((note) => `- ${note}`), ''] : []),
    `**Rule.** ${experiment.rule.description}`,
    '',
    `**Tolerance.** ${experiment.rule.tolerance}`,
    '',
    `**Not reproduced at this scale means.** ${experiment.rule.notReproduced}`,
    '',
    '## Runs',
    '',
    `Scale: ${bundle.scaleDescription}.`,
    '',
    `Environment: ${environmentLine(bundle)}.`,
    '',
    `Cost: ${cost.runs} runs, ${count(cost.steps)} steps, ${count(cost.trainImages)} training images ` +
      `(${count(cost.viewImages)} with all views), ${count(cost.evalImages)} images embedded by evaluations.`,
    '',
    markdownTable(RUN_COLUMNS, runRows(bundle.runs)),
    '',
    'Grid:',
    '',
    ...bundle.grid.map(
      (axis) => `- ${axis.label} (\`${axis.name}\`): ${axis.options.map((o) => o.label).join(', ')}`,
    ),
    '',
    `Plots: report.html (${experiment.plots.map(plotTitle).join('; ')}). Every run's configuration and history: ` +
      'experiment.json and runs/<run>/.',
    '',
  ];
  return lines.join('\n');
}

function metricName(metric: MetricKey, representation: string): string {
  return `${METRIC_NAMES[metric]}(${representation})`;
}

/** Plots show kNN in percent, as the tables do. */
function plotted(metric: MetricKey, value: number): number {
  return metric === 'knnTop1' ? value * 100 : value;
}

function axisName(metric: MetricKey, representation: string): string {
  return metricName(metric, representation) + (metric === 'knnTop1' ? ' %' : '');
}

export function plotTitle(plot: PlotSpec): string {
  if (plot.title) return plot.title;
  switch (plot.kind) {
    case 'loss':
      return 'training loss';
    case 'metric':
      return `${metricName(plot.metric, plot.representation)} over training`;
    case 'plane':
      return `alignment-uniformity plane (${plot.representation})`;
    case 'spectrum':
      return `final eigen-spectrum of ${plot.representation}`;
    case 'final':
      return `final ${metricName(plot.metric, plot.representation)} vs ${plot.axis}`;
  }
}

function thin<T>(points: T[], max: number): T[] {
  if (points.length <= max) return points;
  const stride = points.length / max;
  const out = Array.from({ length: max }, (_, i) => points[Math.floor(i * stride)]);
  out.push(points[points.length - 1]);
  return out;
}

/** The chart of one plot spec over the bundle's runs. */
export function plotSvg(bundle: ExperimentBundle, plot: PlotSpec): string {
  const runs = bundle.runs;
  const title = plotTitle(plot);
  switch (plot.kind) {
    case 'loss':
      return lineChart({
        title,
        xLabel: 'step',
        yLabel: 'loss',
        series: runs.map((run) => ({
          name: run.key,
          points: thin(run.history.steps, MAX_LOSS_POINTS).map(
            ({ step, loss }) => [step, loss] as [number, number],
          ),
        })),
      });
    case 'metric':
      return lineChart({
        title,
        xLabel: 'step',
        yLabel: axisName(plot.metric, plot.representation),
        series: runs.map((run) => ({
          name: run.key,
          markers: run.history.evals.length <= 12,
          points: run.history.evals.map(
            (record) =>
              [record.step, plotted(plot.metric, metricValue(record, plot.representation, plot.metric))] as [
                number,
                number,
              ],
          ),
        })),
      });
    case 'plane':
      return lineChart({
        title,
        xLabel: '-uniformity',
        yLabel: '-alignment',
        series: runs.map((run) => ({
          name: run.key,
          markers: true,
          points: run.history.evals.map(
            (record) =>
              [-record[plot.representation].uniformity, -record[plot.representation].alignment] as [
                number,
                number,
              ],
          ),
        })),
      });
    case 'spectrum':
      return lineChart({
        title,
        xLabel: 'index',
        yLabel: 'log10 eigenvalue',
        series: runs.map((run) => {
          const spectrum = run.history.evals.at(-1)?.[plot.representation].spectrum ?? [];
          return {
            name: run.key,
            points: spectrum.map(
              (value, i) => [i + 1, Math.log10(Math.max(value, 1e-12))] as [number, number],
            ),
          };
        }),
      });
    case 'final':
      return finalChart(bundle, plot, title);
  }
}

/** Final value against a numeric axis: one line per combination of the other axes, seeds averaged. */
function finalChart(
  bundle: ExperimentBundle,
  plot: Extract<PlotSpec, { kind: 'final' }>,
  title: string,
): string {
  const axis = bundle.grid.find((a) => a.name === plot.axis);
  const groups = new Map<string, Map<number, number[]>>();
  for (const run of bundle.runs) {
    const last = run.status === 'completed' ? run.history.evals.at(-1) : undefined;
    const x = Number(run.point[plot.axis]);
    if (!last || !Number.isFinite(x)) continue;
    const others = Object.fromEntries(Object.entries(run.point).filter(([name]) => name !== plot.axis));
    const name = pointKey(others) || metricName(plot.metric, plot.representation);
    const byX = groups.get(name) ?? new Map<number, number[]>();
    byX.set(x, [
      ...(byX.get(x) ?? []),
      plotted(plot.metric, metricValue(last, plot.representation, plot.metric)),
    ]);
    groups.set(name, byX);
  }
  const series: ChartSeries[] = [...groups].map(([name, byX]) => ({
    name,
    markers: true,
    points: [...byX]
      .sort(([a], [b]) => a - b)
      .map(([x, values]) => [x, values.reduce((s, v) => s + v, 0) / values.length] as [number, number]),
  }));
  const xs = series.flatMap((s) => s.points.map(([x]) => x));
  const logX = xs.length > 0 && Math.min(...xs) > 0 && Math.max(...xs) / Math.min(...xs) >= 8;
  return lineChart({
    title,
    xLabel: axis?.label ?? plot.axis,
    yLabel: axisName(plot.metric, plot.representation),
    series,
    logX,
  });
}

function htmlTable(columns: string[], rows: string[][]): string {
  const head = columns.map((c) => `<th>${escapeXml(c)}</th>`).join('');
  const body = rows
    .map((row) => `<tr>${row.map((c) => `<td>${escapeXml(c)}</td>`).join('')}</tr>`)
    .join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const STATUS_COLOURS: Record<string, string> = {
  holds: '#2e7d32',
  'does not hold': '#c62828',
  inconclusive: '#8d6e00',
};

/** report.html: the same content as report.md with the plots as inline SVG; one file, nothing external. */
export function reportHtml(bundle: ExperimentBundle): string {
  const { experiment, verdict, cost } = bundle;
  const e = escapeXml;
  const colour = STATUS_COLOURS[verdict.status] ?? '#333';
  const plots = experiment.plots.map((plot) => `<figure>${plotSvg(bundle, plot)}</figure>`).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${e(experiment.title)} (${bundle.scale} scale)</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f4f4f4; }
.verdict { border-left: 6px solid ${colour}; padding: 0.4em 1em; background: #fafafa; }
.verdict h2 { color: ${colour}; margin: 0.2em 0; }
.smoke { background: #fff3cd; padding: 0.5em 1em; border: 1px solid #e0c36b; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
.plots { display: flex; flex-wrap: wrap; }
</style>
</head>
<body>
<h1>${e(experiment.title)} <small>(${bundle.scale} scale)</small></h1>
${bundle.smoke ? `<p class="smoke">${e(SMOKE_NOTE)}</p>` : ''}
<p><strong>Claim.</strong> ${e(experiment.claim)}</p>
<p><strong>Paper.</strong> ${e(paperLine(bundle))}</p>
<p><strong>What the paper reports.</strong> ${e(experiment.paperStatement)}</p>
<div class="verdict">
<h2>Verdict: ${e(verdict.status)}</h2>
<p>${e(verdict.observed)}</p>
${verdict.table.columns.length > 0 ? htmlTable(verdict.table.columns, verdict.table.rows) : ''}
${verdict.notes.length > 0 ? `<ul>${verdict.notes.map((n) => `<li>${e(n)}</li>`).join('')}</ul>` : ''}
</div>
<p><strong>Rule.</strong> ${e(experiment.rule.description)}</p>
<p><strong>Tolerance.</strong> ${e(experiment.rule.tolerance)}</p>
<p><strong>Not reproduced at this scale means.</strong> ${e(experiment.rule.notReproduced)}</p>
<h2>Plots</h2>
<div class="plots">
${plots}
</div>
<h2>Runs</h2>
<p>Scale: ${e(bundle.scaleDescription)}.</p>
<p>Environment: ${e(environmentLine(bundle))}.</p>
<p>Cost: ${cost.runs} runs, ${count(cost.steps)} steps, ${count(cost.trainImages)} training images (${count(cost.viewImages)} with all views), ${count(cost.evalImages)} images embedded by evaluations.</p>
${htmlTable(RUN_COLUMNS, runRows(bundle.runs))}
<ul>${bundle.grid.map((axis) => `<li>${e(axis.label)} (<code>${e(axis.name)}</code>): ${e(axis.options.map((o) => o.label).join(', '))}</li>`).join('')}</ul>
</body>
</html>
`;
}
