import { useId, useState } from 'react';
import { LOSS_IDS, LOSS_CATALOG } from '../losses/catalog';
import { runColour } from './colours';
import {
  deleteRun,
  duplicateWithLoss,
  editRunConfig,
  evaluateRun,
  isLive,
  pauseRun,
  resumeRun,
  stopRun,
} from './controller';
import { runLegend } from './labels';
import { RunExport } from './run_export';
import { runAbilities, runPace, runStateLine } from './run_state';
import { actions, usePlayground } from './store';
import type { RunRecord } from './types';

function RunRow({ runId }: { runId: string }) {
  const run = usePlayground((state) => state.runs[runId]) as RunRecord | undefined;
  const selected = usePlayground((state) => state.selected.includes(runId));
  const engineReady = usePlayground((state) => state.backend !== null);
  const [otherLoss, setOtherLoss] = useState<string>('dcl');
  const [expanded, setExpanded] = useState(false);
  const nameId = useId();
  const stateId = useId();
  if (!run) return null;
  const progress = run.totalSteps > 0 ? run.step / run.totalSteps : 0;
  const label = run.config.name || run.id;
  const legend = runLegend(run);
  const can = runAbilities(run, isLive(run.id));
  const pace = runPace(run);
  const stateLine = runStateLine(run, { engineReady });
  return (
    <li
      className={`run-row status-${run.status}`}
      data-testid="run-row"
      data-run-id={run.id}
      data-status={run.status}
      aria-labelledby={nameId}
      aria-describedby={stateId}
      style={{ borderLeftColor: runColour(run.colour) }}
    >
      <div className="run-head">
        <label className="run-select">
          <input
            type="checkbox"
            checked={selected}
            onChange={() => actions.toggleSelected(run.id)}
            aria-label={`Compare ${label}`}
          />
          <span className="swatch" style={{ background: runColour(run.colour) }} aria-hidden="true" />
          <span className="run-name" id={nameId} title={legend}>
            {legend}
          </span>
        </label>
        <span className="run-status" data-testid="run-status">
          {run.status}
        </span>
      </div>
      {run.status !== 'failed' && <progress max={1} value={progress} aria-label={`Progress of ${label}`} />}
      <p className="run-state" id={stateId} data-testid="run-state">
        {stateLine}
      </p>
      <div className="run-stats" hidden={run.status === 'failed'}>
        <span data-testid="run-step">
          step {run.step}/{run.totalSteps || '?'}
        </span>
        {pace.speed && <span data-testid="run-speed">{pace.speed}</span>}
        {pace.eta && <span data-testid="run-eta">{pace.eta}</span>}
        {run.userDatasetName && <span>data: {run.userDatasetName}</span>}
      </div>
      {run.error && (
        <details className="run-error" open={run.status === 'failed'}>
          <summary>{run.status === 'failed' ? 'Why it could not start' : 'What went wrong'}</summary>
          <p role="alert">
            {run.error}
            {run.lastCheckpointStep !== null && ` (last saved checkpoint: step ${run.lastCheckpointStep})`}
          </p>
        </details>
      )}
      <div className="run-actions">
        {can.pause && (
          <button type="button" onClick={() => pauseRun(run.id)}>
            Pause
          </button>
        )}
        {can.resume && (
          <button type="button" onClick={() => void resumeRun(run.id)}>
            Resume
          </button>
        )}
        {can.stop && (
          <button type="button" onClick={() => stopRun(run.id)}>
            Stop
          </button>
        )}
        {can.evaluate && (
          <button type="button" onClick={() => void evaluateRun(run.id)}>
            Evaluate
          </button>
        )}
        {can.edit && (
          <button type="button" onClick={() => editRunConfig(run.id)}>
            Edit config
          </button>
        )}
        <button type="button" onClick={() => void deleteRun(run.id)}>
          Delete
        </button>
        {can.export && (
          <button type="button" aria-expanded={expanded} onClick={() => setExpanded(!expanded)}>
            Export…
          </button>
        )}
      </div>
      {can.duplicate && (
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
      )}
      {expanded && can.export && <RunExport run={run} />}
    </li>
  );
}

export function RunList() {
  const runOrder = usePlayground((state) => state.runOrder);
  return (
    <section className="panel run-list" aria-labelledby="runs-title">
      <h2 id="runs-title">Runs</h2>
      {runOrder.length === 0 ? (
        <p className="muted">No runs yet: pick a preset and press Start run.</p>
      ) : null}
      <ul aria-labelledby="runs-title">
        {[...runOrder].reverse().map((id) => (
          <RunRow key={id} runId={id} />
        ))}
      </ul>
    </section>
  );
}
