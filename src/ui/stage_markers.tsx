import type Plotly from 'plotly.js-basic-dist-min';
import type { LossId } from '../losses/catalog';
import { stageStarts, type StageStart } from './stages';
import type { StepPoint } from './types';

/** What the stage markers need of a charted run. */
export interface StagedSeries {
  name: string;
  colour: string;
  lossId: LossId;
  steps: StepPoint[];
}

function startsOf(series: readonly StagedSeries[]): { s: StagedSeries; starts: StageStart[] }[] {
  return series
    .map((s) => ({ s, starts: stageStarts(s.steps, s.lossId) }))
    .filter((e) => e.starts.length > 0);
}

/**
 * Loss-chart layout additions for staged runs (mcl, m3col): a dashed vertical line in the run's colour where each
 * stage starts, labelled with the stage at the top, so the curve reads as one segment per stage.
 */
export function stageLayout(series: readonly StagedSeries[]): Partial<Plotly.Layout> {
  const staged = startsOf(series);
  if (staged.length === 0) return {};
  const shapes = staged.flatMap(({ s, starts }) =>
    starts.map((start) => ({
      type: 'line' as const,
      xref: 'x' as const,
      yref: 'paper' as const,
      x0: start.step - 0.5,
      x1: start.step - 0.5,
      y0: 0,
      y1: 1,
      line: { color: s.colour, dash: 'dash' as const, width: 1 },
    })),
  );
  const annotations = staged.flatMap(({ s, starts }) =>
    starts.map((start) => ({
      x: start.step - 0.5,
      y: 1,
      xref: 'x' as const,
      yref: 'paper' as const,
      text: start.label,
      showarrow: false,
      xanchor: 'left' as const,
      yanchor: 'top' as const,
      font: { size: 10, color: s.colour },
    })),
  );
  return { shapes, annotations } as Partial<Plotly.Layout>;
}

/** The stage starts of the charted runs in words, under the loss chart (and for screen readers). */
export function StageNote({ series }: { series: readonly StagedSeries[] }) {
  const staged = startsOf(series);
  if (staged.length === 0) return null;
  return (
    <p className="help" data-testid="stage-markers">
      Stages (dashed lines):{' '}
      {staged
        .map(
          ({ s, starts }) =>
            `${s.name}: ${starts.map((st) => `${st.label} from step ${st.step}`).join(', ')}`,
        )
        .join('; ')}
    </p>
  );
}
