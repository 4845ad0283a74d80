import type Plotly from 'plotly.js-basic-dist-min';
import { useMemo } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type {
  ContrastiveAnalysisResult,
  FewShotResult,
  FineTuneResult,
  ProtocolResult,
  SpaceScores,
} from '../engine/events';
import { runColour } from './colours';
import { runLegend } from './labels';
import { Plot } from './plot';
import { usePlayground } from './store';
import type { MetricHistory, RunRecord } from './types';

/** A ticked run's latest protocol result (the last evaluation that holds one) and the step it belongs to. */
interface Latest<R extends ProtocolResult> {
  id: string;
  name: string;
  colour: string;
  step: number;
  result: R;
}

const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)}%`);
const interval = (x: number | null, ci: number | null) => (x === null ? '–' : `${pct(x)} ± ${pct(ci)}`);

function latestResults(runs: (RunRecord | undefined)[], histories: (MetricHistory | undefined)[]) {
  const latest: Latest<ProtocolResult>[] = [];
  runs.forEach((run, i) => {
    const evals = histories[i]?.evals ?? [];
    const last = [...evals].reverse().find((e) => e.protocol);
    if (!run || !last?.protocol) return;
    latest.push({
      id: run.id,
      name: runLegend(run),
      colour: runColour(run.colour),
      step: last.step,
      result: last.protocol,
    });
  });
  const of = <K extends ProtocolResult['kind']>(kind: K) =>
    latest.filter((l) => l.result.kind === kind) as Latest<Extract<ProtocolResult, { kind: K }>>[];
  return { fewShot: of('few-shot'), fineTune: of('fine-tune'), analysis: of('contrastive-analysis') };
}

function FewShotTable({ rows }: { rows: Latest<FewShotResult>[] }) {
  return (
    <figure className="chart protocol" data-testid="few-shot-results">
      <figcaption>Few-shot accuracy on held-out classes (mean ± 95% interval)</figcaption>
      <table aria-label="N-way K-shot accuracy per run, without and with OpTA">
        <thead>
          <tr>
            <th scope="col">run</th>
            <th scope="col">task</th>
            <th scope="col">prototypes</th>
            <th scope="col">with OpTA</th>
            <th scope="col">step</th>
          </tr>
        </thead>
        <tbody>
          {rows.flatMap((row) =>
            row.result.scores.map((score) => (
              <tr key={`${row.id}-${score.shots}`}>
                <td>{row.name}</td>
                <td>
                  {row.result.ways}-way {score.shots}-shot
                </td>
                <td>{interval(score.accuracy, score.ci95)}</td>
                <td>{interval(score.optaAccuracy, score.optaCi95)}</td>
                <td>{row.step}</td>
              </tr>
            )),
          )}
        </tbody>
      </table>
      <p className="help">
        {rows[0].result.episodes} seeded episodes, {rows[0].result.queries} queries per class, held-out
        classes [{rows[0].result.heldOutClasses.join(', ')}] ({rows[0].result.split} split).
      </p>
    </figure>
  );
}

function FineTuneResults({ rows }: { rows: Latest<FineTuneResult>[] }) {
  const data = useMemo(
    () =>
      rows.flatMap((row) =>
        row.result.variants.map(
          (variant) =>
            ({
              type: 'scatter',
              mode: 'lines+markers',
              x: variant.points.map((p) => p.step),
              y: variant.points.map((p) => p.testAccuracy),
              name: `${row.name} · ${variant.variant}`,
              line: { color: row.colour, dash: variant.variant === 'plain' ? 'dot' : 'solid' },
              marker: { color: row.colour },
            }) as Plotly.Data,
        ),
      ),
    [rows],
  );
  const last = (result: FineTuneResult, variant: 'plain' | 'core-tuning') => {
    const points = result.variants.find((v) => v.variant === variant)?.points ?? [];
    return points.length > 0 ? points[points.length - 1].testAccuracy : null;
  };
  const label = rows
    .map(
      (row) =>
        `${row.name}: linear probe ${pct(row.result.linearProbe)}, plain ${pct(last(row.result, 'plain'))}, Core-tuning ${pct(last(row.result, 'core-tuning'))}`,
    )
    .join('; ');
  return (
    <figure className="chart protocol" data-testid="fine-tune-results">
      <figcaption>Fine-tuning test accuracy: Core-tuning (solid) vs plain (dotted)</figcaption>
      <Plot
        id="fine-tune"
        label={`Test accuracy against fine-tuning step. ${label}`}
        data={data}
        empty={
          data.some((t) => ((t as { x: number[] }).x.length ?? 0) > 0)
            ? null
            : 'Fine-tuning has not measured yet.'
        }
        layout={{
          xaxis: { title: { text: 'fine-tuning step' } },
          yaxis: { title: { text: 'test accuracy' }, range: [0, 1] },
        }}
      />
      <table aria-label="Test accuracy per run: linear probe, plain fine-tuning, Core-tuning">
        <thead>
          <tr>
            <th scope="col">run</th>
            <th scope="col">linear probe</th>
            <th scope="col">plain fine-tuning</th>
            <th scope="col">Core-tuning</th>
            <th scope="col">stage</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.id}>
              <td>{row.name}</td>
              <td>{pct(row.result.linearProbe)}</td>
              <td>{pct(last(row.result, 'plain'))}</td>
              <td>{pct(last(row.result, 'core-tuning'))}</td>
              <td>{row.result.done ? 'done' : 'running'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

function AnalysisTable({ rows }: { rows: Latest<ContrastiveAnalysisResult>[] }) {
  const cells = (s: SpaceScores) => (
    <>
      <td>{pct(s.salientKnn)}</td>
      <td>{pct(s.salientProbe)}</td>
      <td>{pct(s.classKnn)}</td>
      <td>{pct(s.classProbe)}</td>
    </>
  );
  return (
    <figure className="chart protocol" data-testid="contrastive-analysis-results">
      <figcaption>Contrastive analysis: what each space recovers on the target images</figcaption>
      <table aria-label="Salient pattern and class recovered by kNN and linear probe from the common and the salient space">
        <thead>
          <tr>
            <th scope="col">run</th>
            <th scope="col">space</th>
            <th scope="col">pattern kNN</th>
            <th scope="col">pattern probe</th>
            <th scope="col">class kNN</th>
            <th scope="col">class probe</th>
          </tr>
        </thead>
        <tbody>
          {rows.flatMap((row) => [
            <tr key={`${row.id}-common`}>
              <td>{row.name}</td>
              <td>common</td>
              {cells(row.result.common)}
            </tr>,
            ...(row.result.salient
              ? [
                  <tr key={`${row.id}-salient`}>
                    <td>{row.name}</td>
                    <td>salient</td>
                    {cells(row.result.salient)}
                  </tr>,
                ]
              : []),
          ])}
        </tbody>
      </table>
      <p className="help">
        Chance: pattern {pct(rows[0].result.chance.salient)} ({rows[0].result.patterns.join(', ')}), class{' '}
        {pct(rows[0].result.chance.class)}; {rows[0].result.targetImages} target test images. A separated
        model recovers the pattern from the salient space and not from the common one.
      </p>
    </figure>
  );
}

/** The protocols' evaluation numbers of the ticked runs (few-shot, fine-tuning, contrastive analysis). */
export function ProtocolResults() {
  const selected = usePlayground((state) => state.selected);
  const runs = usePlayground(
    useShallow((state) => selected.map((id) => state.runs[id] as RunRecord | undefined)),
  );
  // the revision moves with every protocol result folded into an evaluation
  const histories = usePlayground(
    useShallow((state) => selected.map((id) => state.histories[id] as MetricHistory | undefined)),
  );
  const revisions = histories.map((h) => h?.revision ?? -1).join('|');
  // eslint-disable-next-line react-hooks/exhaustive-deps -- rebuilt when the runs or their histories' revisions change
  const { fewShot, fineTune, analysis } = useMemo(() => latestResults(runs, histories), [runs, revisions]);
  if (fewShot.length + fineTune.length + analysis.length === 0) return null;
  return (
    <>
      {fewShot.length > 0 && <FewShotTable rows={fewShot} />}
      {fineTune.length > 0 && <FineTuneResults rows={fineTune} />}
      {analysis.length > 0 && <AnalysisTable rows={analysis} />}
    </>
  );
}
