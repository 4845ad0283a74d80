import { zipSync } from 'fflate';
import type { RunConfig } from '../engine/config';
import { lossInfo } from '../losses/catalog';
import type {
  DroppedFile,
  ExportedFile,
  FilesEvent,
  RunSource,
  UserDatasetPayload,
  WorkerEvent,
} from '../worker/protocol';
import { configJson, fileStem, historyCsv, historyJson } from './exports';
import * as db from './persistence';
import { presetById } from './presets';
import { decodeConfigHash } from './share';
import { actions, usePlayground } from './store';
import type { RunRecord } from './types';
import { validateDraft } from './validation';
import { WorkerClient } from './worker_client';

/**
 * The controller: the only place where the store, the worker and IndexedDB meet. Components call these
 * functions; worker events come back through handleWorkerEvent into the store and are persisted.
 */

let client: WorkerClient | null = null;
/** Runs whose trainer lives in the worker now (started this session and not finished). */
const live = new Set<string>();
const dirty = new Set<string>();
let flushTimer: ReturnType<typeof setTimeout> | null = null;
const FLUSH_MS = 1000;

function worker(): WorkerClient {
  client ??= new WorkerClient(handleWorkerEvent);
  return client;
}

function reportError(error: unknown, context?: string): void {
  const message = error instanceof Error ? error.message : String(error);
  actions.notify('error', context ? `${context}: ${message}` : message);
}

async function flush(): Promise<void> {
  flushTimer = null;
  const ids = [...dirty];
  dirty.clear();
  const { runs, histories } = usePlayground.getState();
  for (const id of ids) {
    const run = runs[id];
    if (!run) continue;
    try {
      await db.saveRun(run);
      await db.saveHistory(id, histories[id]);
    } catch (error) {
      reportError(error);
    }
  }
}

/** Persists a run soon (batched), or now for state changes that must survive a reload at once. */
function persist(runId: string, now = false): void {
  dirty.add(runId);
  if (now) {
    if (flushTimer) clearTimeout(flushTimer);
    void flush();
  } else {
    flushTimer ??= setTimeout(() => void flush(), FLUSH_MS);
  }
}

function handleWorkerEvent(message: WorkerEvent): void {
  switch (message.type) {
    case 'backend':
      actions.setBackend(message.info);
      return;
    case 'engine': {
      const { runId, event } = message;
      actions.applyEvent(runId, event);
      if (event.type === 'checkpoint') {
        db.saveCheckpoint(runId, { step: event.step, bytes: event.bytes }).catch(reportError);
      }
      if (event.type === 'finished') live.delete(runId);
      if (event.type === 'error') actions.notify('error', `${runName(runId)}: ${event.message}`);
      persist(runId, event.type !== 'step');
      return;
    }
    case 'run-state':
      if (usePlayground.getState().runs[message.runId]?.status !== 'error')
        actions.setStatus(message.runId, message.state);
      persist(message.runId);
      return;
    case 'run-failed':
      live.delete(message.runId);
      actions.updateRun(message.runId, { status: 'error', error: message.message });
      actions.notify('error', `${runName(message.runId)} could not start: ${message.message}`);
      persist(message.runId, true);
      return;
    case 'device-lost':
      actions.notify('error', message.message);
      return;
    default:
      return;
  }
}

function runName(runId: string): string {
  const run = usePlayground.getState().runs[runId];
  return run ? run.config.name || run.id : runId;
}

const FIRST_PRESET = 'simclr-fashion';

/** Loads persisted state and the shared-link config, and starts the worker (which reports the backend). */
export async function initialise(): Promise<void> {
  worker();
  try {
    const state = await db.loadState();
    // runs that were training when the page closed continue from their last checkpoint on "resume"
    const runs = state.runs.map((run): RunRecord =>
      run.status === 'running' || run.status === 'queued' ? { ...run, status: 'interrupted' } : run,
    );
    // first start: the embedded Fashion-MNIST recipe, so one click on Start trains on real data
    actions.hydrate(
      runs,
      state.histories,
      state.datasets,
      state.draft ?? validateDraft(presetById(FIRST_PRESET)?.config ?? {}).config,
    );
  } catch (error) {
    actions.hydrate([], {}, [], validateDraft(presetById(FIRST_PRESET)?.config ?? {}).config);
    reportError(error, 'could not read saved runs from IndexedDB');
  }
  applySharedLink(window.location.hash);
}

/** Loads a config from a shared link's hash into the editor (errors are shown, not thrown). */
export function applySharedLink(hash: string): void {
  try {
    const config = decodeConfigHash(hash);
    if (config) {
      actions.setDraft(config);
      actions.notify('info', `loaded the config "${config.name || 'unnamed'}" from the shared link`);
    }
  } catch (error) {
    reportError(error);
  }
}

export function editDraft(draft: unknown): void {
  actions.setDraft(draft);
  db.saveDraft(draft).catch(reportError);
}

async function userDatasetPayload(key: string | null): Promise<UserDatasetPayload | undefined> {
  if (!key) return undefined;
  const stored = await db.loadDataset(key);
  if (!stored) throw new Error('the dropped dataset this run uses is no longer stored; drop its files again');
  const { createdAt: _createdAt, ...payload } = stored;
  return payload;
}

function newRunId(): string {
  return `run-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

function newRunRecord(config: RunConfig, datasetKey: string | null): RunRecord {
  const dataset = datasetKey
    ? usePlayground.getState().datasets.find((d) => d.key === datasetKey)
    : undefined;
  return {
    id: newRunId(),
    config,
    createdAt: Date.now(),
    status: 'queued',
    step: 0,
    totalSteps: 0,
    stepsPerEpoch: 0,
    imagesPerSecond: 0,
    msPerStep: 0,
    backend: null,
    parameters: null,
    lastCheckpointStep: null,
    error: null,
    userDatasetKey: datasetKey,
    userDatasetName: dataset?.name ?? null,
  };
}

async function sourceOf(run: RunRecord, withCheckpoint: boolean): Promise<RunSource> {
  const checkpoint = withCheckpoint ? await db.loadCheckpoint(run.id) : undefined;
  return {
    runId: run.id,
    config: run.config,
    checkpoint: checkpoint?.bytes,
    userDataset: await userDatasetPayload(run.userDatasetKey),
  };
}

async function launch(run: RunRecord, withCheckpoint: boolean): Promise<void> {
  const source = await sourceOf(run, withCheckpoint);
  live.add(run.id);
  worker().send({ type: 'start', ...source });
}

/** Creates a run from a valid config and queues it in the worker. Returns its id. */
export async function startRun(
  config: RunConfig,
  datasetKey: string | null = usePlayground.getState().draftDatasetKey,
): Promise<string | null> {
  const run = newRunRecord(config, datasetKey);
  actions.addRun(run);
  try {
    await db.saveRun(run);
    await launch(run, false);
  } catch (error) {
    actions.updateRun(run.id, { status: 'error', error: (error as Error).message });
    reportError(error, `${config.name || run.id} could not start`);
  }
  return run.id;
}

export function pauseRun(runId: string): void {
  worker().send({ type: 'pause', runId });
}

/** Resumes a paused run in the worker, or restarts a stopped/crashed/reloaded one from its last checkpoint. */
export async function resumeRun(runId: string): Promise<void> {
  const run = usePlayground.getState().runs[runId];
  if (!run) return;
  if (live.has(runId)) {
    worker().send({ type: 'resume', runId });
    return;
  }
  actions.updateRun(runId, { status: 'queued', error: null });
  try {
    await launch(run, true);
  } catch (error) {
    actions.updateRun(runId, { status: 'error', error: (error as Error).message });
    reportError(error);
  }
}

export function stopRun(runId: string): void {
  if (live.has(runId)) worker().send({ type: 'stop', runId });
  else actions.setStatus(runId, 'stopped');
}

export async function deleteRun(runId: string): Promise<void> {
  if (live.has(runId)) worker().send({ type: 'delete', runId });
  live.delete(runId);
  dirty.delete(runId);
  actions.removeRun(runId);
  await db.deleteRun(runId).catch(reportError);
}

/** A config with another loss: its default params, views clamped into the loss's allowed range. */
export function withLoss(config: RunConfig, lossId: string): RunConfig {
  const def = lossInfo(lossId);
  const views = config.views.large + config.views.small;
  const large =
    views > def.maxViews
      ? Math.max(def.minViews, def.maxViews - config.views.small)
      : views < def.minViews
        ? def.minViews - config.views.small
        : config.views.large;
  const small = Math.min(config.views.small, Math.max(0, def.maxViews - large));
  const draft = {
    ...config,
    name: `${config.name || 'run'} · ${def.name}`,
    loss: { id: lossId, params: {} },
    views: { ...config.views, large, small },
  };
  const { config: valid, errors } = validateDraft(draft);
  if (!valid)
    throw new Error(
      `cannot switch to ${def.name}: ${Object.entries(errors)
        .map(([k, v]) => `${k}: ${v}`)
        .join('; ')}`,
    );
  return valid;
}

export async function duplicateWithLoss(runId: string, lossId: string): Promise<void> {
  const run = usePlayground.getState().runs[runId];
  if (!run) return;
  try {
    await startRun(withLoss(run.config, lossId), run.userDatasetKey);
  } catch (error) {
    reportError(error);
  }
}

/** Saves files to the user's disk: one file as is, several as one zip named `zipName`. */
export function download(files: ExportedFile[], zipName: string): void {
  let blob: Blob;
  let name: string;
  if (files.length === 1) {
    blob = new Blob([files[0].bytes.slice().buffer], { type: files[0].mime });
    name = files[0].name;
  } else {
    const zipped = zipSync(Object.fromEntries(files.map((f) => [f.name, f.bytes])));
    blob = new Blob([zipped.slice().buffer], { type: 'application/zip' });
    name = zipName;
  }
  const url = URL.createObjectURL(blob);
  const anchor = document.createElement('a');
  anchor.href = url;
  anchor.download = name;
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export type ExportKind =
  'tfjs' | 'safetensors' | 'embeddings' | 'pytorch' | 'history-csv' | 'history-json' | 'config';

export async function exportRun(runId: string, kind: ExportKind): Promise<void> {
  const state = usePlayground.getState();
  const run = state.runs[runId];
  if (!run) return;
  const stem = fileStem(run);
  const text = (name: string, body: string, mime: string): ExportedFile => ({
    name,
    mime,
    bytes: new TextEncoder().encode(body),
  });
  try {
    switch (kind) {
      case 'history-csv':
        return download([text(`${stem}-history.csv`, historyCsv(state.histories[runId]), 'text/csv')], '');
      case 'history-json':
        return download(
          [text(`${stem}-history.json`, historyJson(run, state.histories[runId]), 'application/json')],
          '',
        );
      case 'config':
        return download([text(`${stem}-config.json`, configJson(run.config), 'application/json')], '');
      default: {
        const source = await sourceOf(run, !live.has(runId));
        const reply = await worker().request({ type: 'export', format: kind, ...source });
        // the PyTorch project unpacks into one folder; its README refers to model.safetensors by that name
        const files = reply.files.map((f) =>
          kind === 'pytorch'
            ? { ...f, name: `${stem}-pytorch/${f.name}` }
            : f.name === 'model.safetensors'
              ? { ...f, name: `${stem}.safetensors` }
              : f,
        );
        download(files, `${stem}-${kind}.zip`);
      }
    }
  } catch (error) {
    reportError(error, `export of ${run.config.name || run.id} failed`);
  }
}

export async function evaluateRun(runId: string): Promise<void> {
  const run = usePlayground.getState().runs[runId];
  if (!run) return;
  try {
    const source = await sourceOf(run, !live.has(runId));
    await worker().request({ type: 'evaluate', ...source });
    persist(runId, true);
  } catch (error) {
    reportError(error, `evaluation of ${run.config.name || run.id} failed`);
  }
}

/**
 * Imports weights (safetensors, or TF.js model.json + weights.bin, or a zip of those) into a new run with
 * `config`; the run can then continue training (resume) or be evaluated.
 */
export async function importWeights(config: RunConfig, files: ExportedFile[]): Promise<string | null> {
  const run = {
    ...newRunRecord({ ...config, name: `${config.name || 'run'} (imported weights)` }, null),
    status: 'stopped' as const,
  };
  try {
    const reply = await worker().request({
      type: 'import-weights',
      runId: run.id,
      config: run.config,
      files,
    });
    await db.saveCheckpoint(run.id, { step: 0, bytes: reply.checkpoint });
    const imported = {
      ...run,
      config: { ...reply.config, name: `${reply.config.name || 'run'} (imported weights)` },
      lastCheckpointStep: 0,
    };
    actions.addRun(imported);
    await db.saveRun(imported);
    actions.notify(
      'info',
      `weights imported into "${imported.config.name}": resume to continue training, or evaluate`,
    );
    return run.id;
  } catch (error) {
    reportError(error, 'import of weights failed');
    return null;
  }
}

/** Parses dropped files in a short-lived worker (decompression and image decoding stay off the main thread). */
function parseDroppedFiles(files: DroppedFile[]): Promise<Omit<UserDatasetPayload, 'key'>> {
  const parser = new Worker(new URL('../worker/files.worker.ts', import.meta.url), {
    type: 'module',
    name: 'files',
  });
  return new Promise<Omit<UserDatasetPayload, 'key'>>((resolve, reject) => {
    parser.onmessage = (message: MessageEvent<FilesEvent>) => {
      const event = message.data;
      if (event.type === 'dataset-result') resolve(event.dataset);
      else reject(new Error(event.message));
    };
    parser.onerror = (error) =>
      reject(new Error(`the file parser crashed: ${error.message || 'unknown error'}`));
    parser.onmessageerror = () => reject(new Error('the file parser sent a message that could not be read'));
    parser.postMessage({ type: 'parse-dataset', requestId: 'drop', files });
  }).finally(() => parser.terminate());
}

export async function addDroppedDataset(files: DroppedFile[]): Promise<void> {
  try {
    const parsed = await parseDroppedFiles(files);
    const key = `ds-${Date.now().toString(36)}`;
    await db.saveDataset({ ...parsed, key, createdAt: Date.now() });
    actions.addDataset({
      key,
      name: parsed.name,
      imageShape: parsed.imageShape,
      classes: parsed.classes,
      trainCount: parsed.train.count,
      testCount: parsed.test.count,
    });
    actions.setDraftDataset(key);
    actions.notify(
      'info',
      `dataset "${parsed.name}" added: ${parsed.train.count} training and ${parsed.test.count} test images, ${parsed.classes.length} classes`,
    );
  } catch (error) {
    reportError(error, 'the dropped files were refused');
  }
}

export async function removeDataset(key: string): Promise<void> {
  actions.removeDataset(key);
  await db.deleteDataset(key).catch(reportError);
}

export async function previewAugment(config: RunConfig, datasetKey: string | null, seed: number) {
  return worker().request({
    type: 'preview-augment',
    config,
    images: 4,
    seed,
    userDataset: await userDatasetPayload(datasetKey),
  });
}
