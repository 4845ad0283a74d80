import { useMemo, useState, type ReactNode } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { EXPERIMENTS, venueYear, type ExperimentDefinition } from '../experiments/catalog';
import { startExperiment } from './experiment_actions';
import {
  APP_SCALES,
  APP_SCALE_NAMES,
  expectedTime,
  groupRuns,
  latestGroup,
  plannedRuns,
  type AppScale,
} from './experiment_runs';
import { formatDuration } from './history';
import { actions, usePlayground } from './store';
import type { RunRecord } from './types';
import { VerdictPanel } from './verdict_panel';

function ExperimentCard({
  experiment,
  scale,
  timed,
  backend,
  active,
  hasRuns,
  onRun,
  onShow,
}: {
  experiment: ExperimentDefinition;
  scale: AppScale;
  timed: Pick<RunRecord, 'imagesPerSecond'>[];
  backend: string | null;
  active: boolean;
  hasRuns: boolean;
  onRun: () => void;
  onShow: () => void;
}) {
  const planned = useMemo(() => {
    try {
      return { runs: plannedRuns(experiment, scale), problem: null };
    } catch (error) {
      return { runs: [], problem: (error as Error).message };
    }
  }, [experiment, scale]);
  const plan = useMemo(
    () => ({
      runs: planned.runs.length,
      time: planned.problem === null ? expectedTime(planned.runs, timed, backend) : null,
      problem: planned.problem,
    }),
    [planned, timed, backend],
  );
  const { paper } = experiment;
  const titleId = `experiment-${experiment.id}`;
  return (
    <article
      className={`panel experiment-card${active ? ' active' : ''}`}
      aria-labelledby={titleId}
      data-testid={`experiment-${experiment.id}`}
    >
      <h3 id={titleId}>{experiment.title}</h3>
      <p className="experiment-claim">{experiment.claim}</p>
      <p className="experiment-paper muted">
        {paper.authors}, “{paper.title}”, {venueYear(paper)},{' '}
        <a href={`https://arxiv.org/abs/${paper.arxiv}`} target="_blank" rel="noreferrer">
          arXiv {paper.arxiv}
        </a>
      </p>
      <p className="experiment-cost" data-testid="experiment-cost">
        {plan.problem !== null ? (
          <span className="field-error">{plan.problem}</span>
        ) : (
          <>
            {plan.runs} run{plan.runs === 1 ? '' : 's'}, {plan.time?.steps.toLocaleString('en')} steps: about{' '}
            {formatDuration(plan.time?.seconds ?? 0)} here{' '}
            <span className="muted">({plan.time?.basis}; evaluations extra)</span>
          </>
        )}
      </p>
      <p className="muted experiment-scale">
        {scale === 'smoke'
          ? 'Smoke: the grid on 8x8 synthetic images, 2 steps per run (mechanics only).'
          : experiment.scales[scale].description}
      </p>
      <div className="experiment-actions">
        <button type="button" className="primary" onClick={onRun} disabled={plan.problem !== null}>
          Run
        </button>
        {hasRuns && (
          <button type="button" onClick={onShow} aria-pressed={active}>
            Show results
          </button>
        )}
      </div>
    </article>
  );
}

/**
 * The Experiments tab: a card per paper claim (the claim, the paper, the grid's size and expected time here), a
 * Run button that queues the whole grid like ordinary runs, and the verdict of the shown launch above the
 * compare view (`children`), which shows exactly its runs.
 */
export function ExperimentsTab({ children }: { children?: ReactNode }) {
  const [scale, setScale] = useState<AppScale>('quick');
  const [shown, setShown] = useState<{ id: string; group: string } | null>(null);
  const { runs, runOrder, backend } = usePlayground(
    useShallow((state) => ({ runs: state.runs, runOrder: state.runOrder, backend: state.backend })),
  );
  // the speed of this device: the runs that recorded a throughput (as a string, so a step changes nothing here)
  const speedKey = runOrder
    .map((id) => runs[id]?.imagesPerSecond ?? 0)
    .filter((speed) => speed > 0)
    .map((speed) => speed.toPrecision(2))
    .join(',');
  const timed = useMemo(
    () => (speedKey === '' ? [] : speedKey.split(',').map((speed) => ({ imagesPerSecond: Number(speed) }))),
    [speedKey],
  );
  const latest = useMemo(() => {
    const byId: Record<string, { group: string } | null> = {};
    for (const experiment of EXPERIMENTS) byId[experiment.id] = latestGroup(runs, runOrder, experiment.id);
    return byId;
  }, [runs, runOrder]);
  const current =
    shown ??
    (() => {
      // newest launch of any experiment
      let best: { id: string; group: string; at: number } | null = null;
      for (const id of runOrder) {
        const tag = runs[id]?.experiment;
        // a run saved by a version with an experiment this one lacks is an ordinary run here
        if (
          tag &&
          EXPERIMENTS.some((experiment) => experiment.id === tag.id) &&
          (!best || runs[id].createdAt > best.at)
        )
          best = { id: tag.id, group: tag.group, at: runs[id].createdAt };
      }
      return best ? { id: best.id, group: best.group } : null;
    })();

  const run = async (experiment: ExperimentDefinition) => {
    const group = await startExperiment(experiment.id, scale);
    if (group) setShown({ id: experiment.id, group });
  };

  return (
    <main className="layout experiments-layout">
      <div className="left experiment-gallery">
        <section className="panel" aria-labelledby="experiments-title">
          <h2 id="experiments-title">Experiments</h2>
          <p className="muted">
            Each card re-runs a paper’s claim: Run queues its whole grid (the runs appear in the run list),
            and the verdict below updates as their evaluations arrive.
          </p>
          <label className="field">
            <span>Scale</span>
            <select
              value={scale}
              onChange={(event) => setScale(event.target.value as AppScale)}
              data-testid="experiment-scale"
            >
              {APP_SCALES.map((option) => (
                <option key={option} value={option}>
                  {APP_SCALE_NAMES[option]}
                </option>
              ))}
            </select>
          </label>
        </section>
        {EXPERIMENTS.map((experiment) => (
          <ExperimentCard
            key={experiment.id}
            experiment={experiment}
            scale={scale}
            timed={timed}
            backend={backend?.active ?? null}
            active={current?.id === experiment.id}
            hasRuns={latest[experiment.id] !== null}
            onRun={() => void run(experiment)}
            onShow={() => {
              const group = latest[experiment.id];
              if (!group) return;
              setShown({ id: experiment.id, group: group.group });
              actions.setSelected(groupRuns(runs, runOrder, group.group).map((member) => member.id));
            }}
          />
        ))}
      </div>
      <div className="right">
        {current ? (
          <VerdictPanel key={current.group} experimentId={current.id} group={current.group} />
        ) : (
          <section className="panel">
            <p className="muted">No experiment has run here yet: pick one and press Run.</p>
          </section>
        )}
        {children}
      </div>
    </main>
  );
}
