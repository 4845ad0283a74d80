import { create } from 'zustand';
import type { EngineEvent } from '../engine/events';
import type { BackendInfo } from '../worker/protocol';
import { applyEngineEvent, emptyHistory } from './history';
import type { EmbeddingSpace, MetricHistory, RunRecord, RunStatus } from './types';

/** A dropped dataset as the UI lists it (its pixels stay in IndexedDB). */
export interface DatasetSummary {
  key: string;
  name: string;
  imageShape: [number, number, number];
  classes: string[];
  trainCount: number;
  testCount: number;
}

export interface Notice {
  id: number;
  kind: 'error' | 'info';
  text: string;
}

export interface PlaygroundState {
  loaded: boolean;
  backend: BackendInfo | null;
  runs: Record<string, RunRecord>;
  runOrder: string[];
  histories: Record<string, MetricHistory>;
  /** Runs overlaid in the compare view. */
  selected: string[];
  space: EmbeddingSpace;
  /** The config being edited (plain JSON, possibly invalid while the user types). */
  draft: unknown;
  /** User dataset the next run trains on (null = the dataset in the config). */
  draftDatasetKey: string | null;
  datasets: DatasetSummary[];
  notices: Notice[];
}

const initialState: PlaygroundState = {
  loaded: false,
  backend: null,
  runs: {},
  runOrder: [],
  histories: {},
  selected: [],
  space: 'z',
  draft: {},
  draftDatasetKey: null,
  datasets: [],
  notices: [],
};

export const usePlayground = create<PlaygroundState>()(() => initialState);

let noticeId = 0;

/** State changes, as plain functions over the store (components call these; the controller adds side effects). */
export const actions = {
  reset(): void {
    usePlayground.setState(initialState, true);
  },
  hydrate(
    runs: RunRecord[],
    histories: Record<string, MetricHistory>,
    datasets: DatasetSummary[],
    draft: unknown,
  ): void {
    usePlayground.setState({
      loaded: true,
      runs: Object.fromEntries(runs.map((run) => [run.id, run])),
      runOrder: runs.map((run) => run.id),
      histories,
      datasets,
      draft,
      selected: runs.slice(-4).map((run) => run.id),
    });
  },
  setBackend(backend: BackendInfo): void {
    usePlayground.setState({ backend });
  },
  addRun(run: RunRecord, history: MetricHistory = emptyHistory()): void {
    usePlayground.setState((state) => ({
      runs: { ...state.runs, [run.id]: run },
      runOrder: [...state.runOrder, run.id],
      histories: { ...state.histories, [run.id]: history },
      selected: [...state.selected, run.id],
    }));
  },
  removeRun(runId: string): void {
    usePlayground.setState((state) => {
      const { [runId]: _run, ...runs } = state.runs;
      const { [runId]: _history, ...histories } = state.histories;
      return {
        runs,
        histories,
        runOrder: state.runOrder.filter((id) => id !== runId),
        selected: state.selected.filter((id) => id !== runId),
      };
    });
  },
  updateRun(runId: string, patch: Partial<RunRecord>): void {
    usePlayground.setState((state) => {
      const run = state.runs[runId];
      return run ? { runs: { ...state.runs, [runId]: { ...run, ...patch } } } : {};
    });
  },
  setStatus(runId: string, status: RunStatus): void {
    actions.updateRun(runId, { status });
  },
  /** Applies an engine event to a run's record and history (ignored for runs deleted meanwhile). */
  applyEvent(runId: string, event: EngineEvent): void {
    usePlayground.setState((state) => {
      const run = state.runs[runId];
      if (!run) return {};
      const next = applyEngineEvent(run, state.histories[runId] ?? emptyHistory(), event);
      return {
        runs: { ...state.runs, [runId]: next.run },
        histories: { ...state.histories, [runId]: next.history },
      };
    });
  },
  toggleSelected(runId: string): void {
    usePlayground.setState((state) => ({
      selected: state.selected.includes(runId)
        ? state.selected.filter((id) => id !== runId)
        : [...state.selected, runId],
    }));
  },
  setSpace(space: EmbeddingSpace): void {
    usePlayground.setState({ space });
  },
  setDraft(draft: unknown): void {
    usePlayground.setState({ draft });
  },
  setDraftDataset(key: string | null): void {
    usePlayground.setState({ draftDatasetKey: key });
  },
  addDataset(dataset: DatasetSummary): void {
    usePlayground.setState((state) => ({
      datasets: [...state.datasets.filter((d) => d.key !== dataset.key), dataset],
    }));
  },
  removeDataset(key: string): void {
    usePlayground.setState((state) => ({
      datasets: state.datasets.filter((d) => d.key !== key),
      draftDatasetKey: state.draftDatasetKey === key ? null : state.draftDatasetKey,
    }));
  },
  notify(kind: Notice['kind'], text: string): void {
    const id = ++noticeId;
    usePlayground.setState((state) => ({ notices: [...state.notices.slice(-4), { id, kind, text }] }));
  },
  dismiss(id: number): void {
    usePlayground.setState((state) => ({ notices: state.notices.filter((n) => n.id !== id) }));
  },
};
