import { useState } from 'react';
import { LOSS_IDS, LOSS_CATALOG } from '../losses/catalog';
import { deleteRun, duplicateWithLoss, evaluateRun, pauseRun, resumeRun, stopRun } from './controller';
import { etaSeconds, formatDuration } from './history';
import { runLegend } from './labels';
import { RunExport } from './run_export';
import { actions, usePlayground } from './store';
import type { RunRecord } from './types';

const ACTIVE = new Set(['queued', 'running']);

function RunRow({ runId }: { runId: string }) {
  const run = usePlayground((state) => state.runs[runId]) as RunRecord | undefined;
  const selected = usePlayground((state) => state.selected.includes(runId));
  const [otherLoss, setOtherLoss] = useState<string>('dcl');
  const [expanded, setExpanded] = useState(false);
  if (!run) return null;
  const progress = run.totalSteps > 0 ? run.step / run.totalSteps : 0;
  const eta = etaSeconds(run);
  const active = ACTIVE.has(run.status);
  const label = run.config.name || run.id;
  return (
    <li
      className={`run-row status-${run.status}`}
      data-testid="run-row"
      data-run-id={run.id}
      data-status={run.status}
    >
      <div className="run-head">
        <label className="run-select">
          <input
            type="checkbox"
            checked={selected}
            onChange={() => actions.toggleSelected(run.id)}
            aria-label={`Compare ${label}`}
          />
          <span className="run-name" title={runLegend(run)}>
            {runLegend(run)}
          </span>
        </label>
        <span className="run-status" data-testid="run-status">
          {run.status}
        </span>
      </div>
      <progress max={1} value={progress} aria-label={`Progress of ${label}`} />
      <div className="run-stats">
        <span data-testid="run-step">
          step {run.step}/{run.totalSteps || '?'}
        </span>
        <span>{run.imagesPerSecond > 0 ? `${run.imagesPerSecond.toFixed(1)} img/s` : ''}</span>
        <span>{active && eta !== null ? `ETA ${formatDuration(eta)}` : ''}</span>
        {run.userDatasetName && <span>data: {run.userDatasetName}</span>}
      </div>
      {run.error && (
        <p className="run-error" role="alert">
          {run.error}
          {run.lastCheckpointStep !== null && ` (last checkpoint: step ${run.lastCheckpointStep})`}
        </p>
      )}
      <div className="run-actions">
        {active && (
          <button type="button" onClick={() => pauseRun(run.id)}>
            Pause
          </button>
        )}
        {!active && run.status !== 'completed' && (
          <button type="button" onClick={() => void resumeRun(run.id)}>
            Resume
          </button>
        )}
        {(active || run.status === 'paused') && (
          <button type="button" onClick={() => stopRun(run.id)}>
            Stop
          </button>
        )}
        {!active && (
          <button type="button" onClick={() => void evaluateRun(run.id)}>
            Evaluate
          </button>
        )}
        <button type="button" onClick={() => void deleteRun(run.id)}>
          Delete
        </button>
        <button type="button" aria-expanded={expanded} onClick={() => setExpanded(!expanded)}>
          Export…
        </button>
      </div>
      <div className="run-duplicate">
        <select
          value={otherLoss}
          onChange={(e) => setOtherLoss(e.target.value)}
          aria-label={`Other loss for ${label}`}
        >
          {LOSS_IDS.map((id) => (
            <option key={id} value={id}>
              {LOSS_CATALOG[id].name}
            </option>
          ))}
        </select>
        <button type="button" onClick={() => void duplicateWithLoss(run.id, otherLoss)}>
          Duplicate with another loss
        </button>
      </div>
      {expanded && <RunExport run={run} />}
    </li>
  );
}

export function RunList() {
  const runOrder = usePlayground((state) => state.runOrder);
  return (
    <section className="panel run-list" aria-labelledby="runs-title">
      <h2 id="runs-title">Runs</h2>
      {runOrder.length === 0 ? <p className="muted">No runs yet: pick a preset and press Start.</p> : null}
      <ul>
        {[...runOrder].reverse().map((id) => (
          <RunRow key={id} runId={id} />
        ))}
      </ul>
    </section>
  );
}
