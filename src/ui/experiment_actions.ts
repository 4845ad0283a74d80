// What the Experiments tab does: queue a grid through the same path as a normal run, export a launch as a bundle.
import { experimentById } from '../experiments/catalog';
import { download, startRun } from './controller';
import { appBundle, groupRuns, plannedRuns, runResult, type AppScale } from './experiment_runs';
import { actions, usePlayground } from './store';

/**
 * Queues every run of `experimentId`'s grid at `scale` (each named `<experiment>/<key>`, tagged with one group,
 * persisted like any run) and shows exactly those runs in the compare view. Returns the group.
 */
export async function startExperiment(experimentId: string, scale: AppScale): Promise<string | null> {
  const experiment = experimentById(experimentId);
  let planned;
  try {
    planned = plannedRuns(experiment, scale);
  } catch (error) {
    actions.notify('error', `${experiment.title}: the grid could not be built`, {
      details: (error as Error).message,
    });
    return null;
  }
  const group = `${experiment.id}@${Date.now().toString(36)}`;
  actions.setSelected([]);
  for (const run of planned) {
    await startRun(run.config, null, {
      id: experiment.id,
      group,
      scale,
      key: run.key,
      point: run.point,
      seed: run.seed,
    });
  }
  return group;
}

/** Downloads the launch `group` of an experiment as `<experiment>-<scale>.json` (the CLI's experiment.json format). */
export function exportExperiment(experimentId: string, group: string): void {
  const experiment = experimentById(experimentId);
  const state = usePlayground.getState();
  const runs = groupRuns(state.runs, state.runOrder, group);
  if (runs.length === 0) return;
  const scale = runs[0].experiment.scale;
  const environment: Record<string, string> = { app: 'contrastive playground (browser)' };
  if (state.backend) {
    environment.backend = state.backend.active;
    if (state.backend.adapter) environment.adapter = state.backend.adapter;
  }
  const bundle = appBundle(
    experiment,
    scale,
    runs.map((run) => runResult(run, state.histories[run.id])),
    environment,
  );
  const bytes = new TextEncoder().encode(JSON.stringify(bundle, null, 2));
  download(
    [{ name: `${experiment.id}-${scale}.json`, bytes, mime: 'application/json' }],
    `${experiment.id}-${scale}.zip`,
  );
}
