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

export interface NoticeAction {
  label: string;
  run: () => void;
}

export interface Notice {
  id: number;
  kind: 'error' | 'info' | 'warning';
  /** One short line. */
  text: string;
  /** The full message, folded away under the line (null when the line says it all). */
  details: string | null;
  /** Notices with the same key replace each other and count repeats instead of stacking. */
  key: string;
  count: number;
  action: NoticeAction | null;
  /** Milliseconds it stays; null = until dismissed. */
  ttlMs: number | null;
  /** Called once when the notice goes away (dismissed or expired), not when its action is taken. */
  onClose: (() => void) | null;
}

export type NoticeOptions = Partial<Pick<Notice, 'details' | 'key' | 'action' | 'ttlMs' | 'onClose'>>;

export interface PlaygroundState {
  loaded: boolean;
  backend: BackendInfo | null;
  runs: Record<string, RunRecord>;
  runOrder: string[];
  histories: Record<string, MetricHistory>;
  /** Runs overlaid in the compare view (saved, so a reload keeps the comparison). */
  selected: string[];
  space: EmbeddingSpace;
  /** The config being edited (plain JSON, possibly invalid while the user types). */
  draft: unknown;
  /** User dataset the next run trains on (null = the dataset in the config). */
  draftDatasetKey: string | null;
  datasets: DatasetSummary[];
  /** Served datasets by id (true = its files are on the server); empty until the worker has looked. */
  served: Record<string, boolean>;
  notices: Notice[];
  /** The preset chosen in the menu ('' when the draft was edited or loaded otherwise). */
  presetId: string;
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
  served: {},
  notices: [],
  presetId: '',
};

export const usePlayground = create<PlaygroundState>()(() => initialState);

let noticeId = 0;
/** Most notices shown at once (older ones give way). */
const MAX_NOTICES = 4;
/** How long an info notice stays. */
export const INFO_TTL_MS = 8000;

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
    selected?: string[],
  ): void {
    const ids = new Set(runs.map((run) => run.id));
    usePlayground.setState({
      loaded: true,
      runs: Object.fromEntries(runs.map((run) => [run.id, run])),
      runOrder: runs.map((run) => run.id),
      histories,
      datasets,
      draft,
      selected: selected ? selected.filter((id) => ids.has(id)) : runs.slice(-4).map((run) => run.id),
    });
  },
  setBackend(backend: BackendInfo): void {
    usePlayground.setState({ backend });
  },
  setServed(served: Record<string, boolean>): void {
    usePlayground.setState({ served });
  },
  /** Adds a run (at `position` in the list, default last), ticked for comparison unless `selected` is false. */
  addRun(
    run: RunRecord,
    history: MetricHistory = emptyHistory(),
    options: { position?: number; selected?: boolean } = {},
  ): void {
    usePlayground.setState((state) => {
      const order = state.runOrder.filter((id) => id !== run.id);
      order.splice(options.position ?? order.length, 0, run.id);
      return {
        runs: { ...state.runs, [run.id]: run },
        runOrder: order,
        histories: { ...state.histories, [run.id]: history },
        selected:
          options.selected === false || state.selected.includes(run.id)
            ? state.selected
            : [...state.selected, run.id],
      };
    });
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
  applyEvent(runId: string, event: EngineEvent, now = performance.now()): void {
    usePlayground.setState((state) => {
      const run = state.runs[runId];
      if (!run) return {};
      const next = applyEngineEvent(run, state.histories[runId] ?? emptyHistory(), event, now);
      return {
        runs: { ...state.runs, [runId]: next.run },
        histories: { ...state.histories, [runId]: next.history },
      };
    });
  },
  setHistory(runId: string, history: MetricHistory): void {
    usePlayground.setState((state) => ({ histories: { ...state.histories, [runId]: history } }));
  },
  toggleSelected(runId: string): void {
    usePlayground.setState((state) => ({
      selected: state.selected.includes(runId)
        ? state.selected.filter((id) => id !== runId)
        : [...state.selected, runId],
    }));
  },
  /** Replaces the compare view's selection (the runs of an experiment). */
  setSelected(runIds: string[]): void {
    usePlayground.setState({ selected: runIds });
  },
  setSpace(space: EmbeddingSpace): void {
    usePlayground.setState({ space });
  },
  setDraft(draft: unknown, presetId = ''): void {
    usePlayground.setState({ draft, presetId });
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
  /**
   * Shows a notice. The same key (default: the text) replaces the earlier notice and counts the repeat, so a
   * message that recurs is listed once. Info notices expire; errors stay until dismissed.
   */
  notify(kind: Notice['kind'], text: string, options: NoticeOptions = {}): number {
    const id = ++noticeId;
    const key = options.key ?? `${kind}:${text}`;
    let closed: Notice[] = [];
    usePlayground.setState((state) => {
      const previous = state.notices.find((n) => n.key === key);
      const notice: Notice = {
        id,
        kind,
        text,
        details: options.details ?? null,
        key,
        count: (previous?.count ?? 0) + 1,
        action: options.action ?? null,
        ttlMs: options.ttlMs !== undefined ? options.ttlMs : kind === 'info' ? INFO_TTL_MS : null,
        onClose: options.onClose ?? previous?.onClose ?? null,
      };
      const others = state.notices.filter((n) => n.key !== key);
      const kept = [...others, notice];
      closed = kept.slice(0, Math.max(0, kept.length - MAX_NOTICES));
      return { notices: kept.slice(-MAX_NOTICES) };
    });
    for (const notice of closed) notice.onClose?.();
    return id;
  },
  /** Removes a notice; runs its onClose unless `actionTaken` (its action replaced what closing would do). */
  dismiss(id: number, actionTaken = false): void {
    const notice = usePlayground.getState().notices.find((n) => n.id === id);
    if (!notice) return;
    usePlayground.setState((state) => ({ notices: state.notices.filter((n) => n.id !== id) }));
    if (!actionTaken) notice.onClose?.();
  },
};
