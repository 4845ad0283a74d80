import { openDB, type DBSchema, type IDBPDatabase, type IDBPTransaction, type StoreNames } from 'idb';
import type { EvalEvent } from '../engine/events';
import type { UserDatasetPayload } from '../worker/protocol';
import type { MetricHistory, RunRecord, StepPoint } from './types';

/**
 * IndexedDB persistence (via idb): runs, their metric histories, their latest checkpoint bytes, user-dropped
 * datasets and settings (the config being edited, the runs ticked for comparison), so everything survives a
 * reload. Histories are append-only: one record per step and per eval, keyed [runId, step], so saving a step
 * costs the same at step 10 and at step 100,000.
 */

export interface StoredCheckpoint {
  step: number;
  bytes: Uint8Array;
}

export type StoredDataset = UserDatasetPayload & { createdAt: number };

type HistoryKey = [string, number];

interface PlaygroundDb extends DBSchema {
  runs: { key: string; value: RunRecord };
  steps: { key: HistoryKey; value: StepPoint };
  evals: { key: HistoryKey; value: EvalEvent };
  checkpoints: { key: string; value: StoredCheckpoint };
  datasets: { key: string; value: StoredDataset };
  settings: { key: string; value: unknown };
}

const DB_NAME = 'contrastive-playground';
/** 1: one whole-history record per run ('histories'); 2: per-step and per-eval records. */
export const DB_VERSION = 2;

/** A history change to write: a new step, a new or replaced eval, or everything after a step dropped. */
export type HistoryOp =
  | { kind: 'step'; point: StepPoint }
  | { kind: 'eval'; event: EvalEvent }
  | { kind: 'truncate'; after: number };

/** The per-step and per-eval records of a whole history (the version-1 -> 2 migration, imports, undo). */
export function historyRecords(
  runId: string,
  history: Pick<MetricHistory, 'steps' | 'evals'>,
): { steps: [HistoryKey, StepPoint][]; evals: [HistoryKey, EvalEvent][] } {
  return {
    steps: history.steps.map((point) => [[runId, point.step], point]),
    evals: history.evals.map((event) => [[runId, event.step], event]),
  };
}

/** Key range of a run's records with step > `after` (all of them for -Infinity). */
export function rangeAfter(runId: string, after = -Infinity): IDBKeyRange {
  return IDBKeyRange.bound([runId, after], [runId, Infinity], true, false);
}

/** Groups [runId, step] records by run, in step order (IndexedDB returns them sorted by key). */
export function groupByRun<T>(keys: HistoryKey[], values: T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  keys.forEach(([runId], i) => {
    const list = groups.get(runId);
    if (list) list.push(values[i]);
    else groups.set(runId, [values[i]]);
  });
  return groups;
}

async function migrateWholeHistories(
  transaction: IDBPTransaction<PlaygroundDb, StoreNames<PlaygroundDb>[], 'versionchange'>,
): Promise<void> {
  // the version-1 store is not in the typed schema any more
  const old = (
    transaction as unknown as IDBPTransaction<
      { histories: { key: string; value: MetricHistory } },
      ['histories'],
      'versionchange'
    >
  ).objectStore('histories');
  const steps = transaction.objectStore('steps');
  const evals = transaction.objectStore('evals');
  for (let cursor = await old.openCursor(); cursor; cursor = await cursor.continue()) {
    const records = historyRecords(String(cursor.key), {
      steps: cursor.value.steps ?? [],
      evals: cursor.value.evals ?? [],
    });
    for (const [key, value] of records.steps) void steps.put(value, key);
    for (const [key, value] of records.evals) void evals.put(value, key);
  }
  transaction.db.deleteObjectStore('histories' as never);
}

let dbPromise: Promise<IDBPDatabase<PlaygroundDb>> | null = null;

function db(): Promise<IDBPDatabase<PlaygroundDb>> {
  dbPromise ??= openDB<PlaygroundDb>(DB_NAME, DB_VERSION, {
    async upgrade(database, oldVersion, _newVersion, transaction) {
      if (oldVersion < 1) {
        database.createObjectStore('runs', { keyPath: 'id' });
        database.createObjectStore('checkpoints');
        database.createObjectStore('datasets', { keyPath: 'key' });
        database.createObjectStore('settings');
      }
      if (oldVersion < 2) {
        database.createObjectStore('steps');
        database.createObjectStore('evals');
        // a saved version-1 history becomes per-step records, so the user's runs survive the upgrade
        if (oldVersion >= 1) await migrateWholeHistories(transaction);
      }
    },
    blocked() {
      // another tab still has the old version open; it closes its connection on 'versionchange' below
    },
  }).then((database) => {
    database.addEventListener('versionchange', () => database.close());
    return database;
  });
  return dbPromise;
}

/** True for the browser's "storage full" errors (names differ between engines). */
export function isQuotaError(error: unknown): boolean {
  const name = (error as { name?: string } | null)?.name;
  return name === 'QuotaExceededError' || name === 'NS_ERROR_DOM_QUOTA_REACHED';
}

/** A failed write, as an error the user can act on; `quota` tells the storage-full case apart. */
export class StorageError extends Error {
  constructor(
    message: string,
    readonly quota: boolean,
  ) {
    super(message);
    this.name = 'StorageError';
  }
}

function storageError(error: unknown, what: string): StorageError {
  if (isQuotaError(error)) {
    return new StorageError(
      `browser storage is full while saving ${what}: delete old runs or dropped datasets, then try again`,
      true,
    );
  }
  return new StorageError(
    `could not save ${what} in IndexedDB: ${error instanceof Error ? error.message : String(error)}`,
    false,
  );
}

async function write(
  what: string,
  action: (database: IDBPDatabase<PlaygroundDb>) => Promise<unknown>,
): Promise<void> {
  try {
    await action(await db());
  } catch (error) {
    throw storageError(error, what);
  }
}

export interface LoadedState {
  runs: RunRecord[];
  histories: Record<string, MetricHistory>;
  datasets: {
    key: string;
    name: string;
    imageShape: [number, number, number];
    classes: string[];
    trainCount: number;
    testCount: number;
  }[];
  draft: unknown;
  /** Run ids ticked for comparison when the page closed (undefined: never saved). */
  selected: string[] | undefined;
}

/** Everything the UI shows at start (checkpoints and dataset pixels stay in the database until needed). */
export async function loadState(): Promise<LoadedState> {
  const database = await db();
  const tx = database.transaction(['runs', 'steps', 'evals', 'datasets', 'settings']);
  const [runs, stepKeys, stepValues, evalKeys, evalValues, datasets, draft, selected] = await Promise.all([
    tx.objectStore('runs').getAll(),
    tx.objectStore('steps').getAllKeys(),
    tx.objectStore('steps').getAll(),
    tx.objectStore('evals').getAllKeys(),
    tx.objectStore('evals').getAll(),
    tx.objectStore('datasets').getAll(),
    tx.objectStore('settings').get('draft'),
    tx.objectStore('settings').get('selected'),
  ]);
  const steps = groupByRun(stepKeys, stepValues);
  const evals = groupByRun(evalKeys, evalValues);
  const histories: Record<string, MetricHistory> = {};
  for (const run of runs)
    histories[run.id] = { steps: steps.get(run.id) ?? [], evals: evals.get(run.id) ?? [], revision: 0 };
  return {
    runs: runs.sort((a, b) => a.createdAt - b.createdAt),
    histories,
    datasets: datasets.map((d) => ({
      key: d.key,
      name: d.name,
      imageShape: d.imageShape,
      classes: d.classes,
      trainCount: d.train.count,
      testCount: d.test.count,
    })),
    draft,
    selected: Array.isArray(selected)
      ? selected.filter((id): id is string => typeof id === 'string')
      : undefined,
  };
}

export function saveRun(run: RunRecord): Promise<void> {
  return write(`run ${run.config.name || run.id}`, (database) => database.put('runs', run));
}

/** Writes history changes of several runs in one transaction, in order (a truncate before the steps that follow it). */
export function appendHistories(changes: Map<string, HistoryOp[]>): Promise<void> {
  if (changes.size === 0) return Promise.resolve();
  return write('metric histories', async (database) => {
    const tx = database.transaction(['steps', 'evals'], 'readwrite');
    const steps = tx.objectStore('steps');
    const evals = tx.objectStore('evals');
    for (const [runId, ops] of changes) {
      for (const op of ops) {
        if (op.kind === 'step') void steps.put(op.point, [runId, op.point.step]);
        else if (op.kind === 'eval') void evals.put(op.event, [runId, op.event.step]);
        else {
          void steps.delete(rangeAfter(runId, op.after));
          void evals.delete(rangeAfter(runId, op.after));
        }
      }
    }
    await tx.done;
  });
}

/** Replaces a run's whole history (an undone delete writes it back). */
export function putHistory(runId: string, history: MetricHistory): Promise<void> {
  const ops: HistoryOp[] = [
    { kind: 'truncate', after: -Infinity },
    ...history.steps.map((point): HistoryOp => ({ kind: 'step', point })),
    ...history.evals.map((event): HistoryOp => ({ kind: 'eval', event })),
  ];
  return appendHistories(new Map([[runId, ops]]));
}

export function saveCheckpoint(runId: string, checkpoint: StoredCheckpoint): Promise<void> {
  return write(`the checkpoint of run ${runId}`, (database) =>
    database.put('checkpoints', checkpoint, runId),
  );
}

export async function loadCheckpoint(runId: string): Promise<StoredCheckpoint | undefined> {
  return (await db()).get('checkpoints', runId);
}

export async function deleteRun(runId: string): Promise<void> {
  const database = await db();
  const tx = database.transaction(['runs', 'steps', 'evals', 'checkpoints'], 'readwrite');
  await Promise.all([
    tx.objectStore('runs').delete(runId),
    tx.objectStore('steps').delete(rangeAfter(runId)),
    tx.objectStore('evals').delete(rangeAfter(runId)),
    tx.objectStore('checkpoints').delete(runId),
    tx.done,
  ]);
}

export function saveDataset(dataset: StoredDataset): Promise<void> {
  return write(`dataset ${dataset.name}`, (database) => database.put('datasets', dataset));
}

export async function loadDataset(key: string): Promise<StoredDataset | undefined> {
  return (await db()).get('datasets', key);
}

export async function deleteDataset(key: string): Promise<void> {
  await (await db()).delete('datasets', key);
}

export function saveDraft(draft: unknown): Promise<void> {
  return write('the config being edited', (database) => database.put('settings', draft, 'draft'));
}

export function saveSelected(selected: string[]): Promise<void> {
  return write('the runs ticked for comparison', (database) =>
    database.put('settings', selected, 'selected'),
  );
}
