import type Plotly from 'plotly.js-basic-dist-min';
import { useEffect, useId, useMemo, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { EvalEvent } from '../engine/events';
import type { LossId } from '../losses/catalog';
import { relativeToFirst, smooth } from './chart_math';
import { classColour, runColour } from './colours';
import { latestPca } from './history';
import { ObjectiveCharts } from './objective_charts';
import { runLegend } from './labels';
import { Plot, redrawInterval } from './plot';
import { ProtocolResults } from './protocol_results';
import { RegressionChart } from './regression_chart';
import { stageLayout, StageNote } from './stage_markers';
import { actions, usePlayground } from './store';
import type { EmbeddingSpace, MetricHistory, RunRecord, StepPoint } from './types';
import { useThrottled } from './use_throttled';

const PCA_LAYOUT = {
  showlegend: true,
  xaxis: { title: { text: 'PC 1' } },
  yaxis: { title: { text: 'PC 2' } },
};
const STEP_AXIS = { xaxis: { title: { text: 'step' } } };

/** One run in the charts: its colour comes from the run itself, so ticking others never changes it. */
interface Series {
  id: string;
  name: string;
  colour: string;
  classes: string[] | null;
  lossId: LossId;
  steps: StepPoint[];
  evals: EvalEvent[];
}

function lines(
  series: Series[],
  pick: (s: Series) => { x: number[]; y: number[] },
  options: Partial<Plotly.ScatterData> = {},
): Plotly.Data[] {
  return series.map((s) => {
    const { x, y } = pick(s);
    // scattergl (WebGL) only for long series: SVG is cheaper for short ones and never waits on a GPU busy training
    return {
      type: x.length > 2000 ? 'scattergl' : 'scatter',
      mode: x.length > 1 ? 'lines' : 'markers',
      x,
      y,
      name: s.name,
      line: { color: s.colour },
      marker: { color: s.colour },
      ...options,
    } as Plotly.Data;
  });
}

function lastValue(values: number[]): string {
  const last = values[values.length - 1];
  return last === undefined ? 'no values yet' : `last ${Number(last.toPrecision(3))}`;
}

/** "… for 2 runs: a (6 points, last 1.2); b (…)": what a chart shows, for its accessible name. */
function describe(what: string, series: Series[], values: (s: Series) => number[]): string {
  if (series.length === 0) return `${what}: no runs ticked`;
  const parts = series.map((s) => {
    const v = values(s);
    return `${s.name} (${v.length} point${v.length === 1 ? '' : 's'}, ${lastValue(v)})`;
  });
  return `${what} for ${series.length} run${series.length === 1 ? '' : 's'}: ${parts.join('; ')}`;
}

function hasPoints(data: Plotly.Data[]): boolean {
  return data.some((trace) => ((trace as { x?: unknown[] }).x?.length ?? 0) > 0);
}

const NO_EVALS =
  'No evaluations yet: the first one runs before step 1 (and every "Eval every" steps); on a slow device it takes a while.';

function LossChart({ series }: { series: Series[] }) {
  const [weight, setWeight] = useState(0);
  const [logScale, setLogScale] = useState(false);
  const [relative, setRelative] = useState(false);
  const ids = { weight: useId(), log: useId(), relative: useId() };
  const data = useMemo((): Plotly.Data[] => {
    const values = (s: Series) => {
      const losses = s.steps.map((p) => p.loss);
      return relative ? relativeToFirst(losses) : losses;
    };
    const x = (s: Series) => s.steps.map((p) => p.step);
    if (weight <= 0) return lines(series, (s) => ({ x: x(s), y: values(s) }));
    // smoothed line on top, the raw values faded behind it (TensorBoard's view)
    const raw = lines(series, (s) => ({ x: x(s), y: values(s) }), {
      opacity: 0.25,
      hoverinfo: 'skip',
      meta: 'raw',
    } as Partial<Plotly.ScatterData>).map((trace) => ({
      ...trace,
      name: `${(trace as { name: string }).name} (raw)`,
    }));
    const smoothed = lines(series, (s) => ({ x: x(s), y: smooth(values(s), weight) }));
    return [...raw, ...smoothed] as Plotly.Data[];
  }, [series, weight, relative]);
  // losses of very different sizes on one linear axis flatten the small ones: say so, and what shows them together
  const scales = series
    .map((s) => Math.max(...s.steps.map((p) => Math.abs(p.loss)).filter(Number.isFinite), 0))
    .filter((m) => m > 0);
  const spread = scales.length > 1 ? Math.max(...scales) / Math.min(...scales) : 1;
  const nonPositive = logScale && series.some((s) => s.steps.some((p) => !(p.loss > 0)) && !relative);
  const empty = !hasPoints(data)
    ? 'No loss values yet: they appear after the first training step (the first step compiles the GPU kernels and is the slowest).'
    : null;
  const yTitle = relative ? 'loss ÷ first loss' : 'loss';
  return (
    <figure className="chart">
      <figcaption>Loss vs step</figcaption>
      <Plot
        id="loss"
        label={describe(
          `Training loss against step${weight > 0 ? ` (smoothed ${weight})` : ''}`,
          series,
          (s) => s.steps.map((p) => p.loss),
        )}
        data={data}
        empty={empty}
        layout={{
          ...STEP_AXIS,
          ...stageLayout(series),
          yaxis: { title: { text: yTitle }, type: logScale ? 'log' : 'linear' },
        }}
      />
      <StageNote series={series} />
      <div className="chart-controls">
        <label htmlFor={ids.weight}>Smoothing</label>
        <input
          id={ids.weight}
          type="range"
          min={0}
          max={0.99}
          step={0.01}
          value={weight}
          onChange={(e) => setWeight(Number(e.target.value))}
        />
        <output htmlFor={ids.weight}>{weight.toFixed(2)}</output>
        <label className="inline">
          <input type="checkbox" checked={logScale} onChange={(e) => setLogScale(e.target.checked)} />
          Log scale
        </label>
        <label className="inline">
          <input type="checkbox" checked={relative} onChange={(e) => setRelative(e.target.checked)} />
          Relative to the first step
        </label>
      </div>
      {spread >= 20 && !relative && !logScale && (
        <p className="help" data-testid="loss-scale-hint">
          These losses differ in size about {Math.round(spread)}×: tick “Relative to the first step” or “Log
          scale” to compare their shapes.
        </p>
      )}
      {nonPositive && (
        <p className="help">
          Some losses are ≤ 0 and cannot be shown on a log scale; tick “Relative” or untick “Log scale”.
        </p>
      )}
    </figure>
  );
}

function SpectrumPlot({ series, space }: { series: Series[]; space: EmbeddingSpace }) {
  const maxEvals = Math.max(0, ...series.map((s) => s.evals.length));
  const [index, setIndex] = useState<number | null>(null); // null = follow the latest eval
  const [playing, setPlaying] = useState(false);
  const shown = index === null ? maxEvals - 1 : Math.min(index, maxEvals - 1);
  useEffect(() => {
    if (!playing) return;
    const timer = setInterval(() => setIndex((i) => ((i ?? -1) + 1) % Math.max(1, maxEvals)), 600);
    return () => clearInterval(timer);
  }, [playing, maxEvals]);
  const data = useMemo(
    () =>
      lines(series, (s) => {
        const evalEvent = s.evals[Math.min(shown, s.evals.length - 1)];
        const values = evalEvent ? evalEvent[space].spectrum : [];
        return { x: values.map((_, i) => i + 1), y: values.map((v) => Math.log10(Math.max(v, 1e-12))) };
      }),
    [series, shown, space],
  );
  const stepLabel = series[0]?.evals[Math.min(shown, (series[0]?.evals.length ?? 1) - 1)]?.step;
  return (
    <figure className="chart">
      <figcaption>
        Eigen-spectrum ({space}) {stepLabel !== undefined ? `at step ${stepLabel}` : ''}
      </figcaption>
      <Plot
        id="spectrum"
        label={describe(
          `Eigenvalue spectrum of the ${space} embeddings (log10, largest first)`,
          series,
          (s) =>
            (s.evals[Math.min(shown, s.evals.length - 1)]?.[space].spectrum ?? []).map((v) =>
              Math.log10(Math.max(v, 1e-12)),
            ),
        )}
        data={data}
        empty={hasPoints(data) ? null : NO_EVALS}
        layout={{ xaxis: { title: { text: 'index' } }, yaxis: { title: { text: 'log10 eigenvalue' } } }}
      />
      <div className="chart-controls">
        <input
          type="range"
          min={0}
          max={Math.max(0, maxEvals - 1)}
          value={Math.max(0, shown)}
          onChange={(e) => {
            setPlaying(false);
            setIndex(Number(e.target.value));
          }}
          aria-label="Evaluation shown in the spectrum"
        />
        <button type="button" aria-pressed={playing} onClick={() => setPlaying(!playing)}>
          Animate
        </button>
        <button
          type="button"
          onClick={() => {
            setPlaying(false);
            setIndex(null);
          }}
        >
          Latest
        </button>
      </div>
    </figure>
  );
}

function PcaPlot({ series, space }: { series: Series[]; space: EmbeddingSpace }) {
  const [runId, setRunId] = useState<string>('');
  // the run picked, else the newest ticked run that has a scatter to show
  const chosen =
    series.find((s) => s.id === runId) ??
    [...series].reverse().find((s) => latestPca(s.evals) !== undefined) ??
    series[series.length - 1];
  const latest = chosen ? latestPca(chosen.evals) : undefined;
  const selectId = useId();
  const data = useMemo((): Plotly.Data[] => {
    if (!latest?.pca) return [];
    const points = latest.pca[space];
    const byClass = new Map<number, { x: number[]; y: number[] }>();
    latest.pca.labels.forEach((label, i) => {
      const entry = byClass.get(label) ?? { x: [], y: [] };
      entry.x.push(points[2 * i]);
      entry.y.push(points[2 * i + 1]);
      byClass.set(label, entry);
    });
    return [...byClass.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([label, xy]) => ({
        type: 'scatter',
        mode: 'markers',
        x: xy.x,
        y: xy.y,
        name: chosen?.classes?.[label] ?? `class ${label}`,
        marker: { size: 5, color: classColour(label), symbol: 'circle' },
      }));
  }, [latest, space, chosen?.classes]);
  const classNames = data.map((trace) => (trace as { name: string }).name);
  return (
    <figure className="chart">
      <figcaption>
        2-D PCA ({space}){latest ? ` at step ${latest.step}` : ''} of{' '}
        <select
          id={selectId}
          value={chosen?.id ?? ''}
          onChange={(e) => setRunId(e.target.value)}
          aria-label="Run shown in the PCA scatter"
        >
          {series.map((s) => (
            <option key={s.id} value={s.id}>
              {s.name}
            </option>
          ))}
        </select>
      </figcaption>
      <Plot
        id="pca"
        label={
          latest
            ? `2-D PCA of the ${space} embeddings of ${chosen?.name} at step ${latest.step}, coloured by class: ${classNames.join(', ')}`
            : `2-D PCA of the ${space} embeddings: no evaluation with PCA yet`
        }
        data={data}
        empty={latest ? null : NO_EVALS}
        layout={PCA_LAYOUT}
        height={300}
      />
    </figure>
  );
}

/**
 * Series of the ticked runs: one list for the step charts (the loss) and one for the evaluation charts, each rebuilt
 * only when its own data changed and at most once per redraw interval (a second, longer when drawing is slow), so a
 * training step redraws the loss chart alone and the main thread stays free.
 */
function useSeries(): { steps: Series[]; evals: Series[] } {
  const selected = usePlayground((state) => state.selected);
  const runs = usePlayground(
    useShallow((state) => selected.map((id) => state.runs[id] as RunRecord | undefined)),
  );
  const histories = usePlayground(
    useShallow((state) => selected.map((id) => state.histories[id] as MetricHistory | undefined)),
  );
  // legends and colours depend on a run's config and colour, not on its step counter
  const identity = runs
    .map((run) =>
      run
        ? `${run.id}:${run.colour}:${run.config.name}:${JSON.stringify(run.config.loss)}:${run.config.batchSize}:${(run.classes ?? []).join(',')}`
        : '',
    )
    .join('|');
  const stepKey = histories
    .map((h) => `${h?.steps.length ?? 0}:${h?.steps[h.steps.length - 1]?.step ?? ''}`)
    .join('|');
  const evalKey = histories
    .map((h) => {
      const last = h?.evals[h.evals.length - 1];
      return `${h?.evals.length ?? 0}:${last?.step ?? ''}:${last?.evalMs ?? ''}`;
    })
    .join('|');
  const interval = redrawInterval();
  const throttledSteps = useThrottled(stepKey, interval);
  const throttledEvals = useThrottled(evalKey, interval);
  return {
    // eslint-disable-next-line react-hooks/exhaustive-deps -- rebuilt when the runs or their (throttled) steps change
    steps: useMemo(() => buildSeries(runs, histories, 'steps'), [identity, throttledSteps]),
    // eslint-disable-next-line react-hooks/exhaustive-deps -- rebuilt when the runs or their (throttled) evals change
    evals: useMemo(() => buildSeries(runs, histories, 'evals'), [identity, throttledEvals]),
  };
}

function buildSeries(
  runs: (RunRecord | undefined)[],
  histories: (MetricHistory | undefined)[],
  part: 'steps' | 'evals',
): Series[] {
  const series: Series[] = [];
  runs.forEach((run, i) => {
    if (!run) return;
    const history = histories[i];
    series.push({
      id: run.id,
      name: runLegend(run),
      colour: runColour(run.colour),
      classes: run.classes,
      lossId: run.config.loss.id,
      // copies: the store's arrays grow in place, and a chart must keep the points it was drawn with
      steps: history && part === 'steps' ? history.steps.slice() : [],
      evals: history && part === 'evals' ? history.evals.slice() : [],
    });
  });
  return series;
}

export function CompareView() {
  const space = usePlayground((state) => state.space);
  const { steps: stepSeries, evals: series } = useSeries();
  const plots = useMemo(() => {
    const evalsOf = (s: Series) => s.evals;
    return {
      knn: lines(
        series,
        (s) => ({ x: evalsOf(s).map((e) => e.step), y: evalsOf(s).map((e) => e[space].knnTop1) }),
        { mode: 'lines+markers' },
      ),
      alignUniform: [
        ...lines(
          series,
          (s) => ({ x: evalsOf(s).map((e) => e.step), y: evalsOf(s).map((e) => e[space].alignment) }),
          { mode: 'lines+markers' },
        ).map((t) => ({ ...t, name: `${(t as { name: string }).name} · alignment` })),
        ...lines(
          series,
          (s) => ({ x: evalsOf(s).map((e) => e.step), y: evalsOf(s).map((e) => e[space].uniformity) }),
          { mode: 'lines+markers', yaxis: 'y2', line: { dash: 'dot' } },
        ).map((t, i) => ({
          ...t,
          name: `${series[i].name} · uniformity`,
          line: { dash: 'dot', color: series[i].colour },
        })),
      ] as Plotly.Data[],
      plane: lines(
        series,
        (s) => ({
          x: evalsOf(s).map((e) => -e[space].uniformity),
          y: evalsOf(s).map((e) => -e[space].alignment),
        }),
        { mode: 'lines+markers' },
      ),
      rank: lines(
        series,
        (s) => ({ x: evalsOf(s).map((e) => e.step), y: evalsOf(s).map((e) => e[space].effectiveRank) }),
        { mode: 'lines+markers' },
      ),
    };
  }, [series, space]);
  const noEvals = series.every((s) => s.evals.length === 0) ? NO_EVALS : null;
  const metric = (pick: (e: EvalEvent) => number) => (s: Series) => s.evals.map(pick);
  return (
    <section className="panel compare" aria-labelledby="compare-title">
      <div className="compare-head">
        <h2 id="compare-title">
          Compare ({series.length} run{series.length === 1 ? '' : 's'})
        </h2>
        <div role="radiogroup" aria-label="Embedding space" className="space-toggle">
          {(['h', 'z'] as const).map((value) => (
            <label key={value}>
              <input
                type="radio"
                name="space"
                value={value}
                checked={space === value}
                onChange={() => actions.setSpace(value)}
              />
              {value === 'h' ? 'h (backbone)' : 'z (projector)'}
            </label>
          ))}
        </div>
      </div>
      {series.length > 0 && (
        <ul className="legend" aria-label="Runs in the charts" data-testid="legend">
          {series.map((s) => (
            <li key={s.id} data-colour={s.colour}>
              <span className="swatch" style={{ background: s.colour }} aria-hidden="true" />
              {s.name}
            </li>
          ))}
        </ul>
      )}
      {series.length === 0 ? (
        <p className="muted">Tick runs in the run list to overlay them here.</p>
      ) : (
        <div className="charts">
          <LossChart series={stepSeries} />
          <figure className="chart">
            <figcaption>kNN top-1 ({space}) vs step</figcaption>
            <Plot
              id="knn"
              label={describe(
                `kNN top-1 accuracy of the ${space} embeddings against step`,
                series,
                metric((e) => e[space].knnTop1),
              )}
              data={plots.knn}
              empty={noEvals}
              layout={{ ...STEP_AXIS, yaxis: { title: { text: 'kNN top-1' }, range: [0, 1] } }}
            />
          </figure>
          <RegressionChart series={series} />
          <figure className="chart">
            <figcaption>Alignment (solid) &amp; uniformity (dotted) ({space})</figcaption>
            <Plot
              id="align-uniform"
              label={describe(
                `Alignment (left axis) and uniformity (right axis) of the ${space} embeddings against step`,
                series,
                metric((e) => e[space].alignment),
              )}
              data={plots.alignUniform}
              empty={noEvals}
              layout={{
                ...STEP_AXIS,
                margin: { l: 50, r: 55, t: 30, b: 40 },
                yaxis: { title: { text: 'alignment' } },
                yaxis2: { title: { text: 'uniformity' }, overlaying: 'y', side: 'right' },
              }}
            />
          </figure>
          <figure className="chart">
            <figcaption>Alignment–uniformity plane ({space}): up and right is better</figcaption>
            <Plot
              id="plane"
              label={describe(
                `Runs in the alignment–uniformity plane (${space}; up and right is better)`,
                series,
                metric((e) => -e[space].alignment),
              )}
              data={plots.plane}
              empty={noEvals}
              layout={{ xaxis: { title: { text: '−uniformity' } }, yaxis: { title: { text: '−alignment' } } }}
            />
          </figure>
          <SpectrumPlot series={series} space={space} />
          <figure className="chart">
            <figcaption>Effective rank ({space}) vs step</figcaption>
            <Plot
              id="rank"
              label={describe(
                `Effective rank of the ${space} embeddings against step`,
                series,
                metric((e) => e[space].effectiveRank),
              )}
              data={plots.rank}
              empty={noEvals}
              layout={{ ...STEP_AXIS, yaxis: { title: { text: 'effective rank' } } }}
            />
          </figure>
          <PcaPlot series={series} space={space} />
          <ProtocolResults />
          <ObjectiveCharts series={series} />
        </div>
      )}
    </section>
  );
}
