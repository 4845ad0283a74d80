import type Plotly from 'plotly.js-basic-dist-min';
import { useMemo } from 'react';
import type { EvalEvent } from '../engine/events';
import { Plot } from './plot';

/** What the regression chart needs of a charted run. */
export interface RegressionSeries {
  name: string;
  colour: string;
  evals: EvalEvent[];
}

function withRegression(s: RegressionSeries): EvalEvent[] {
  return s.evals.filter((e) => e.regression !== undefined);
}

/**
 * R^2 of kNN regression (solid) and of the linear probe (dashed) of h against step, for runs whose dataset has a
 * continuous target per image (dataset.target); the latest kNN-regression MAE of each run is listed below it.
 * Renders nothing when no ticked run has regression metrics.
 */
export function RegressionChart({ series }: { series: readonly RegressionSeries[] }) {
  const data = useMemo((): Plotly.Data[] => {
    const traces: Plotly.Data[] = [];
    for (const s of series) {
      const evals = withRegression(s);
      if (evals.length === 0) continue;
      const x = evals.map((e) => e.step);
      const mode = x.length > 1 ? 'lines+markers' : 'markers';
      traces.push({
        type: 'scatter',
        mode,
        x,
        y: evals.map((e) => e.regression?.knnR2 ?? NaN),
        name: `${s.name} · kNN R²`,
        line: { color: s.colour },
        marker: { color: s.colour },
      } as Plotly.Data);
      traces.push({
        type: 'scatter',
        mode,
        x,
        y: evals.map((e) => e.regression?.linearR2 ?? NaN),
        name: `${s.name} · linear R²`,
        line: { color: s.colour, dash: 'dash' },
        marker: { color: s.colour, symbol: 'square' },
      } as Plotly.Data);
    }
    return traces;
  }, [series]);
  if (data.length === 0) return null;
  const latest = series
    .map((s) => ({ s, last: withRegression(s).at(-1) }))
    .filter((e) => e.last?.regression !== undefined);
  const summary = latest
    .map(
      ({ s, last }) =>
        `${s.name} at step ${last?.step}: kNN R² ${last?.regression?.knnR2.toFixed(3)}, linear R² ${last?.regression?.linearR2.toFixed(3)}, kNN MAE ${last?.regression?.knnMae.toPrecision(3)}`,
    )
    .join('; ');
  return (
    <figure className="chart">
      <figcaption>Regression R² (h): kNN (solid) &amp; linear probe (dashed) vs step</figcaption>
      <Plot
        id="regression"
        label={`Regression of the dataset target from the h embeddings against step: ${summary}`}
        data={data}
        layout={{
          xaxis: { title: { text: 'step' } },
          yaxis: { title: { text: 'R²' } },
        }}
      />
      <p className="help" data-testid="regression-summary">
        {summary} (MAE in target units)
      </p>
    </figure>
  );
}
