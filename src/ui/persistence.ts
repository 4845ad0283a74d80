import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { UserDatasetPayload } from '../worker/protocol';
import type { MetricHistory, RunRecord } from './types';

/**
 * IndexedDB persistence (via idb): runs, their full metric histories, their latest checkpoint bytes,
 * user-dropped datasets and the config being edited, so everything survives a reload.
 */

export interface StoredCheckpoint {
  step: number;
  bytes: Uint8Array;
}

export type StoredDataset = UserDatasetPayload & { createdAt: number };

interface PlaygroundDb extends DBSchema {
  runs: { key: string; value: RunRecord };
  histories: { key: string; value: MetricHistory };
  checkpoints: { key: string; value: StoredCheckpoint };
  datasets: { key: string; value: StoredDataset };
  settings: { key: string; value: unknown };
}

const DB_NAME = 'contrastive-playground';
const DB_VERSION = 1;

let dbPromise: Promise<IDBPDatabase<PlaygroundDb>> | null = null;

function db(): Promise<IDBPDatabase<PlaygroundDb>> {
  dbPromise ??= openDB<PlaygroundDb>(DB_NAME, DB_VERSION, {
    upgrade(database) {
      database.createObjectStore('runs', { keyPath: 'id' });
      database.createObjectStore('histories');
      database.createObjectStore('checkpoints');
      database.createObjectStore('datasets', { keyPath: 'key' });
      database.createObjectStore('settings');
    },
  });
  return dbPromise;
}

/** True for the browser's "storage full" errors (names differ between engines). */
export function isQuotaError(error: unknown): boolean {
  const name = (error as { name?: string } | null)?.name;
  return name === 'QuotaExceededError' || name === 'NS_ERROR_DOM_QUOTA_REACHED';
}

/** Rewrites a failed write as an error the user can act on. */
function storageError(error: unknown, what: string): Error {
  if (isQuotaError(error)) {
    return new Error(
      `browser storage is full while saving ${what}: delete old runs or dropped datasets, then try again`,
    );
  }
  return new Error(
    `could not save ${what} in IndexedDB: ${error instanceof Error ? error.message : String(error)}`,
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
}

/** Everything the UI shows at start (checkpoints and dataset pixels stay in the database until needed). */
export async function loadState(): Promise<LoadedState> {
  const database = await db();
  const runs = await database.getAll('runs');
  const histories: Record<string, MetricHistory> = {};
  for (const run of runs)
    histories[run.id] = (await database.get('histories', run.id)) ?? { steps: [], evals: [] };
  const datasets = (await database.getAll('datasets')).map((d) => ({
    key: d.key,
    name: d.name,
    imageShape: d.imageShape,
    classes: d.classes,
    trainCount: d.train.count,
    testCount: d.test.count,
  }));
  return {
    runs: runs.sort((a, b) => a.createdAt - b.createdAt),
    histories,
    datasets,
    draft: await database.get('settings', 'draft'),
  };
}

export function saveRun(run: RunRecord): Promise<void> {
  return write(`run ${run.config.name || run.id}`, (database) => database.put('runs', run));
}

export function saveHistory(runId: string, history: MetricHistory): Promise<void> {
  return write(`the metric history of run ${runId}`, (database) => database.put('histories', history, runId));
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
  const tx = database.transaction(['runs', 'histories', 'checkpoints'], 'readwrite');
  await Promise.all([
    tx.objectStore('runs').delete(runId),
    tx.objectStore('histories').delete(runId),
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
