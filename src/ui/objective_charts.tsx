import type Plotly from 'plotly.js-basic-dist-min';
import { useMemo, useState } from 'react';
import type { EvalEvent, MetricSet } from '../engine/events';
import { Plot } from './plot';

/** A ticked run as these charts need it (compare_view's Series has these fields). */
export interface ObjectiveSeries {
  id: string;
  name: string;
  colour: string;
  evals: EvalEvent[];
}

/** The representations an evaluation can measure: h, z, and cmim's informative embeddings. */
export type Representation = 'h' | 'z' | 'informative';

export const REPRESENTATIONS: readonly { value: Representation; label: string }[] = [
  { value: 'h', label: 'h (backbone)' },
  { value: 'z', label: 'z (projector)' },
  { value: 'informative', label: 'informative (decoder)' },
];

/** The metrics of one representation in an evaluation (undefined where the run does not have it). */
export function representationMetrics(e: EvalEvent, representation: Representation): MetricSet | undefined {
  return representation === 'informative' ? e.informative : e[representation];
}

const STEP_AXIS = { xaxis: { title: { text: 'step' } } };

function percent(value: number | undefined): string {
  return value === undefined ? '–' : `${(value * 100).toFixed(1)}%`;
}

function fixed(value: number | null | undefined): string {
  return value === null || value === undefined ? '–' : value.toFixed(3);
}

/**
 * Dense pixel consistency of the runs that have it (pixpro): the mean cosine of corresponding cells of two views'
 * spatial maps (solid) and of the other cells of the same image (dotted). Pixel-level learning pulls the solid line
 * above the dotted one; two lines that meet near 1 are a collapsed map.
 */
function DenseChart({ series }: { series: ObjectiveSeries[] }) {
  const data = useMemo((): Plotly.Data[] => {
    const trace = (s: ObjectiveSeries, which: 'matched' | 'unmatched'): Plotly.Data => {
      const evals = s.evals.filter((e) => e.dense && e.dense[which] !== null);
      return {
        type: 'scatter',
        mode: 'lines+markers',
        x: evals.map((e) => e.step),
        y: evals.map((e) => e.dense![which] as number),
        name: `${s.name} · ${which === 'matched' ? 'corresponding' : 'other'} cells`,
        line: { color: s.colour, dash: which === 'matched' ? 'solid' : 'dot' },
        marker: { color: s.colour },
      } as Plotly.Data;
    };
    return series.flatMap((s) => [trace(s, 'matched'), trace(s, 'unmatched')]);
  }, [series]);
  const latest = series.map((s) => ({ s, dense: [...s.evals].reverse().find((e) => e.dense)?.dense }));
  const label =
    `Dense pixel consistency against step for ${series.length} run${series.length === 1 ? '' : 's'}: ` +
    latest
      .map(
        ({ s, dense }) =>
          `${s.name} (corresponding ${fixed(dense?.matched)}, other ${fixed(dense?.unmatched)})`,
      )
      .join('; ');
  return (
    <figure className="chart" data-testid="dense-chart">
      <figcaption>Dense pixel consistency: corresponding cells (solid) vs other cells (dotted)</figcaption>
      <Plot
        id="dense"
        label={label}
        data={data}
        empty={data.some((t) => ((t as { x: number[] }).x.length ?? 0) > 0) ? null : 'No evaluations yet.'}
        layout={{ ...STEP_AXIS, yaxis: { title: { text: 'mean cosine of the spatial maps' } } }}
      />
      <ul className="help" data-testid="dense-latest">
        {latest.map(({ s, dense }) => (
          <li key={s.id}>
            {s.name}: corresponding {fixed(dense?.matched)}, other {fixed(dense?.unmatched)}
            {dense
              ? ` (${dense.pairsPerImage.toFixed(1)} pairs per image at T ${dense.threshold}, ${dense.images} images)`
              : ''}
          </li>
        ))}
      </ul>
    </figure>
  );
}

/**
 * kNN top-1 of the representation picked (h, z or cmim's informative embeddings) for the runs that have the
 * informative one, with the latest value of each representation in a table next to it.
 */
function RepresentationChart({ series }: { series: ObjectiveSeries[] }) {
  const [representation, setRepresentation] = useState<Representation>('informative');
  const data = useMemo(
    (): Plotly.Data[] =>
      series.map((s) => {
        const evals = s.evals.filter((e) => representationMetrics(e, representation));
        return {
          type: 'scatter',
          mode: 'lines+markers',
          x: evals.map((e) => e.step),
          y: evals.map((e) => representationMetrics(e, representation)!.knnTop1),
          name: s.name,
          line: { color: s.colour },
          marker: { color: s.colour },
        } as Plotly.Data;
      }),
    [series, representation],
  );
  const latest = series.map((s) => ({ s, last: s.evals[s.evals.length - 1] }));
  return (
    <figure className="chart" data-testid="representation-chart">
      <figcaption>
        kNN top-1 of the evaluation representation{' '}
        <span role="radiogroup" aria-label="Evaluation representation" className="space-toggle">
          {REPRESENTATIONS.map(({ value, label }) => (
            <label key={value}>
              <input
                type="radio"
                name="evaluation-representation"
                value={value}
                checked={representation === value}
                onChange={() => setRepresentation(value)}
              />
              {label}
            </label>
          ))}
        </span>
      </figcaption>
      <Plot
        id="representation"
        label={`kNN top-1 of the ${representation} representation against step for ${series.length} run${series.length === 1 ? '' : 's'}: ${latest
          .map(
            ({ s, last }) =>
              `${s.name} (${percent(last && representationMetrics(last, representation)?.knnTop1)})`,
          )
          .join('; ')}`}
        data={data}
        empty={data.some((t) => ((t as { x: number[] }).x.length ?? 0) > 0) ? null : 'No evaluations yet.'}
        layout={{ ...STEP_AXIS, yaxis: { title: { text: 'kNN top-1' }, range: [0, 1] } }}
      />
      <table data-testid="representation-table">
        <caption>Latest evaluation, kNN top-1 by representation</caption>
        <thead>
          <tr>
            <th scope="col">run</th>
            {REPRESENTATIONS.map(({ value, label }) => (
              <th scope="col" key={value}>
                {label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {latest.map(({ s, last }) => (
            <tr key={s.id}>
              <th scope="row">{s.name}</th>
              {REPRESENTATIONS.map(({ value }) => (
                <td key={value}>{percent(last && representationMetrics(last, value)?.knnTop1)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

/**
 * The charts of objective-specific diagnostics, each shown only when a ticked run has that diagnostic: dense pixel
 * consistency (pixpro) and the choice of evaluation representation h / z / informative (cmim).
 */
export function ObjectiveCharts({ series }: { series: ObjectiveSeries[] }) {
  const dense = series.filter((s) => s.evals.some((e) => e.dense));
  const informative = series.filter((s) => s.evals.some((e) => e.informative));
  return (
    <>
      {dense.length > 0 && <DenseChart series={dense} />}
      {informative.length > 0 && <RepresentationChart series={informative} />}
    </>
  );
}
