import type Plotly from 'plotly.js-basic-dist-min';
import { useEffect, useMemo, useRef, useState } from 'react';
import { runLegend } from './labels';
import { Plot } from './plot';
import { actions, usePlayground } from './store';
import type { EmbeddingSpace, MetricHistory, RunRecord } from './types';
import { useThrottled } from './use_throttled';
import { useShallow } from 'zustand/react/shallow';

const PCA_LAYOUT = {
  showlegend: true,
  xaxis: { title: { text: 'PC 1' } },
  yaxis: { title: { text: 'PC 2' } },
};
const STEP_AXIS = { xaxis: { title: { text: 'step' } } };
const PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#bcbd22',
  '#7f7f7f',
];

interface Series {
  run: RunRecord;
  history: MetricHistory;
  colour: string;
  name: string;
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

function SpectrumPlot({ series, space }: { series: Series[]; space: EmbeddingSpace }) {
  const maxEvals = Math.max(0, ...series.map((s) => s.history.evals.length));
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
        const evalEvent = s.history.evals[Math.min(shown, s.history.evals.length - 1)];
        const values = evalEvent ? evalEvent[space].spectrum : [];
        return { x: values.map((_, i) => i + 1), y: values.map((v) => Math.log10(Math.max(v, 1e-12))) };
      }),
    [series, shown, space],
  );
  const stepLabel =
    series[0]?.history.evals[Math.min(shown, (series[0]?.history.evals.length ?? 1) - 1)]?.step;
  return (
    <figure className="chart">
      <figcaption>
        Eigen-spectrum ({space}) {stepLabel !== undefined ? `at step ${stepLabel}` : ''}
      </figcaption>
      <Plot
        label="spectrum"
        data={data}
        layout={{ xaxis: { title: { text: 'index' } }, yaxis: { title: { text: 'log10 eigenvalue' } } }}
      />
      <div className="spectrum-controls">
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
        <button type="button" onClick={() => setPlaying(!playing)}>
          {playing ? 'Stop' : 'Animate'}
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
  const chosen = series.find((s) => s.run.id === runId) ?? series[series.length - 1];
  const latest = chosen ? [...chosen.history.evals].reverse().find((e) => e.pca) : undefined;
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
        name: `class ${label}`,
        marker: { size: 4, color: PALETTE[label % PALETTE.length] },
      }));
  }, [latest, space]);
  return (
    <figure className="chart">
      <figcaption>
        2-D PCA ({space}){latest ? ` at step ${latest.step}` : ''} of{' '}
        <select
          value={chosen?.run.id ?? ''}
          onChange={(e) => setRunId(e.target.value)}
          aria-label="Run shown in the PCA scatter"
        >
          {series.map((s) => (
            <option key={s.run.id} value={s.run.id}>
              {s.run.config.name || s.run.id}
            </option>
          ))}
        </select>
      </figcaption>
      <Plot label="pca" data={data} layout={PCA_LAYOUT} />
    </figure>
  );
}

/** The same array object as last render when every element is identical (keeps memoised plots from redrawing). */
function useStableArray<T>(items: T[]): T[] {
  const previous = useRef<T[]>(items);
  const same =
    previous.current.length === items.length && previous.current.every((item, i) => item === items[i]);
  useEffect(() => {
    if (!same) previous.current = items;
  });
  return same ? previous.current : items;
}

export function CompareView() {
  const selected = usePlayground((state) => state.selected);
  const space = usePlayground((state) => state.space);
  const runs = useStableArray(
    usePlayground(useShallow((state) => selected.map((id) => state.runs[id]).filter(Boolean))),
  );
  const histories = usePlayground(useShallow((state) => selected.map((id) => state.histories[id])));
  // plots redraw at most once a second: Plotly work on the main thread is what could make the page stutter
  const throttledHistories = useThrottled(histories, 1000);
  const stepLists = useStableArray(throttledHistories.map((h) => h?.steps ?? []));
  const evalLists = useStableArray(throttledHistories.map((h) => h?.evals ?? []));
  // run records change every step (step counter, pace); legends and colours only need their configs
  const configs = useStableArray(runs.map((run) => run.config));
  const ids = useStableArray(runs.map((run) => run.id));
  const stepSeries = useMemo(
    (): Series[] =>
      ids.map((id, i) => ({
        run: { id, config: configs[i] } as RunRecord,
        history: { steps: stepLists[i] ?? [], evals: [] },
        colour: PALETTE[i % PALETTE.length],
        name: runLegend({ id, config: configs[i] }),
      })),
    [ids, configs, stepLists],
  );
  const series = useMemo(
    (): Series[] =>
      ids.map((id, i) => ({
        run: { id, config: configs[i] } as RunRecord,
        history: { steps: [], evals: evalLists[i] ?? [] },
        colour: PALETTE[i % PALETTE.length],
        name: runLegend({ id, config: configs[i] }),
      })),
    [ids, configs, evalLists],
  );
  const lossPlot = useMemo(
    () =>
      lines(stepSeries, (s) => ({
        x: s.history.steps.map((p) => p.step),
        y: s.history.steps.map((p) => p.loss),
      })),
    [stepSeries],
  );
  const plots = useMemo(() => {
    const evalsOf = (s: Series) => s.history.evals;
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
        <ul className="legend" aria-label="Runs in the charts">
          {series.map((s) => (
            <li key={s.run.id}>
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
          <figure className="chart">
            <figcaption>Loss vs step</figcaption>
            <Plot
              label="loss"
              data={lossPlot}
              layout={{ ...STEP_AXIS, yaxis: { title: { text: 'loss' } } }}
            />
          </figure>
          <figure className="chart">
            <figcaption>kNN top-1 ({space}) vs step</figcaption>
            <Plot
              label="knn"
              data={plots.knn}
              layout={{ ...STEP_AXIS, yaxis: { title: { text: 'kNN top-1' }, range: [0, 1] } }}
            />
          </figure>
          <figure className="chart">
            <figcaption>Alignment (solid) &amp; uniformity (dotted) ({space})</figcaption>
            <Plot
              label="align-uniform"
              data={plots.alignUniform}
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
              label="plane"
              data={plots.plane}
              layout={{ xaxis: { title: { text: '−uniformity' } }, yaxis: { title: { text: '−alignment' } } }}
            />
          </figure>
          <SpectrumPlot series={series} space={space} />
          <figure className="chart">
            <figcaption>Effective rank ({space}) vs step</figcaption>
            <Plot
              label="rank"
              data={plots.rank}
              layout={{ ...STEP_AXIS, yaxis: { title: { text: 'effective rank' } } }}
            />
          </figure>
          <PcaPlot series={series} space={space} />
        </div>
      )}
    </section>
  );
}
