import { useMemo } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { experimentById, plotSvg } from '../experiments/catalog';
import { exportExperiment } from './experiment_actions';
import { APP_SCALE_NAMES, appBundle, groupRuns, panelVerdict, runResult } from './experiment_runs';
import { usePlayground } from './store';
import { useThrottled } from './use_throttled';

/**
 * The verdict of one launch of an experiment, recomputed from its runs' histories as results arrive: the claim,
 * what was observed, the table that decides it, and the experiment's own plots (the report's charts).
 */
export function VerdictPanel({ experimentId, group }: { experimentId: string; group: string }) {
  const experiment = experimentById(experimentId);
  const { runs, runOrder, histories } = usePlayground(
    useShallow((state) => ({ runs: state.runs, runOrder: state.runOrder, histories: state.histories })),
  );
  // histories change every step; the verdict and the charts need the evaluations, a few times a second at most
  const live = useMemo(() => ({ runs, runOrder, histories }), [runs, runOrder, histories]);
  const source = useThrottled(live, 1000);
  const members = useMemo(() => groupRuns(source.runs, source.runOrder, group), [source, group]);
  const results = useMemo(
    () => members.map((run) => runResult(run, source.histories[run.id])),
    [members, source],
  );
  const scale = members[0]?.experiment.scale ?? 'quick';
  const decided = useMemo(() => panelVerdict(experiment, results), [experiment, results]);
  const charts = useMemo(() => {
    if (results.length === 0) return [];
    const bundle = appBundle(experiment, scale, results, {});
    return experiment.plots.flatMap((plot) => {
      try {
        return [plotSvg(bundle, plot)];
      } catch {
        return []; // a chart without data yet; the verdict and the compare view still show
      }
    });
  }, [experiment, scale, results]);

  if (members.length === 0) {
    return (
      <section className="panel verdict-panel" aria-label="Verdict">
        <p className="muted">The runs of this launch were deleted.</p>
      </section>
    );
  }
  const { verdict, status } = decided;
  return (
    <section className="panel verdict-panel" aria-labelledby="verdict-title" data-testid="verdict-panel">
      <h2 id="verdict-title">
        {experiment.title} <span className="muted">· {APP_SCALE_NAMES[scale]}</span>
      </h2>
      <p>
        <strong>Claim:</strong> {experiment.claim}
      </p>
      <p data-testid="verdict-observed">{verdict.observed}</p>
      <p>
        Verdict:{' '}
        <strong
          className={`verdict verdict-${status.replace(/ /g, '-')}`}
          data-testid="verdict-status"
          data-status={status}
        >
          {status}
        </strong>{' '}
        <span className="muted" data-testid="verdict-progress">
          ({decided.finished} of {decided.total} runs ended)
        </span>
      </p>
      {scale === 'smoke' && (
        <p className="muted">
          Smoke scale: the grid on tiny synthetic data, a few steps per run. It checks the mechanics; its
          verdict says nothing about the claim.
        </p>
      )}
      {verdict.table.rows.length > 0 && (
        <table className="verdict-table">
          <thead>
            <tr>
              {verdict.table.columns.map((column) => (
                <th key={column}>{column}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {verdict.table.rows.map((row, i) => (
              <tr key={i}>
                {row.map((cell, j) => (
                  <td key={j}>{cell}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {verdict.notes.length > 0 && (
        <ul className="verdict-notes">
          {verdict.notes.map((note, i) => (
            <li key={i}>{note}</li>
          ))}
        </ul>
      )}
      <details>
        <summary>The rule</summary>
        <p>{experiment.verdict.description}</p>
        <p>Tolerance: {experiment.verdict.tolerance}.</p>
        <p>Not reproduced at the quick scale means: {experiment.verdict.notReproduced}</p>
      </details>
      <div className="verdict-actions">
        <button type="button" onClick={() => exportExperiment(experimentId, group)}>
          Export bundle
        </button>
      </div>
      <div className="experiment-charts">
        {charts.map((svg, i) => (
          // the report's own SVG (text escaped by report.ts), the same charts as report.html
          <figure key={i} className="experiment-chart" dangerouslySetInnerHTML={{ __html: svg }} />
        ))}
      </div>
    </section>
  );
}
