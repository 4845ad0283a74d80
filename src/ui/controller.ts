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
import { colourFromId, nextRunColour } from './colours';
import { datasetAdvice, datasetMissing } from './datasets_info';
import { configJson, fileStem, historyCsv, historyJson } from './exports';
import { applyEngineEvent, emptyHistory } from './history';
import { importedRunName } from './labels';
import { summarise } from './messages';
import * as db from './persistence';
import { presetById } from './presets';
import { isActive } from './run_state';
import { decodeConfigHash } from './share';
import { actions, usePlayground, type NoticeOptions } from './store';
import type { ExperimentTag, MetricHistory, RunRecord } from './types';
import { validateDraft } from './validation';
import { WorkerClient } from './worker_client';

/**
 * The controller: the only place where the store, the worker and IndexedDB meet. Components call these
 * functions; worker events come back through handleWorkerEvent into the store and are persisted.
 */

let client: WorkerClient | null = null;
/** Runs whose trainer lives in the worker now (started in this page and not finished). */
const live = new Set<string>();
/** History records and run records waiting to be written (batched: at most one write a second). */
const historyOps = new Map<string, db.HistoryOp[]>();
const dirtyRuns = new Set<string>();
let flushTimer: ReturnType<typeof setTimeout> | null = null;
const FLUSH_MS = 1000;
/** Checkpoint saves run one after another per run, so an older one never lands after a newer one. */
const checkpointSaves = new Map<string, Promise<void>>();
/** Times of recent engine crashes: runs are resumed after a crash, but not in a crash loop. */
const crashTimes: number[] = [];
const CRASH_WINDOW_MS = 120_000;
const MAX_CRASHES = 2;
let persistRequested = false;
/**
 * Runs deleted within the undo window: what Undo puts back. A run that was training keeps receiving the events of
 * the step in progress when it was deleted (the worker pauses it after that step), and they land here.
 */
const deletedRuns = new Map<
  string,
  { run: RunRecord; history: MetricHistory; checkpoint: db.StoredCheckpoint | undefined }
>();

export function isLive(runId: string): boolean {
  return live.has(runId);
}

function worker(): WorkerClient {
  if (!client || !client.alive) client = new WorkerClient(handleWorkerEvent, onEngineCrash);
  return client;
}

/** Shows an error as one short line with the rest folded away; the same message recurring is listed once. */
function reportError(error: unknown, context?: string, options: NoticeOptions = {}): void {
  const message = error instanceof Error ? error.message : String(error);
  const { summary, details } = summarise(context ? `${context}: ${message}` : message);
  actions.notify('error', summary, { details, ...options });
}

/** Storage failures: one notice (counting repeats) that says what to do. */
function storageProblem(error: unknown): void {
  if (error instanceof db.StorageError && error.quota) {
    actions.notify(
      'error',
      'Browser storage is full: new checkpoints and metrics are not being saved. Delete runs or dropped datasets you no longer need (export them first), then continue.',
      { key: 'storage-full' },
    );
    return;
  }
  reportError(error, undefined, { key: 'storage-error' });
}

async function flush(): Promise<void> {
  flushTimer = null;
  const ops = new Map(historyOps);
  historyOps.clear();
  const ids = [...dirtyRuns];
  dirtyRuns.clear();
  try {
    await db.appendHistories(ops);
  } catch (error) {
    storageProblem(error);
  }
  const { runs } = usePlayground.getState();
  for (const id of ids) {
    const run = runs[id];
    if (!run) continue;
    try {
      await db.saveRun(run);
    } catch (error) {
      storageProblem(error);
    }
  }
}

/** Persists a run soon (batched), or now for state changes that must survive a reload at once. */
function persist(runId: string, now = false): void {
  dirtyRuns.add(runId);
  if (now) {
    if (flushTimer) clearTimeout(flushTimer);
    void flush();
  } else {
    flushTimer ??= setTimeout(() => void flush(), FLUSH_MS);
  }
}

function queueHistory(runId: string, op: db.HistoryOp): void {
  const ops = historyOps.get(runId);
  if (ops) ops.push(op);
  else historyOps.set(runId, [op]);
}

/**
 * Saves a checkpoint the worker made and records it on the run only once IndexedDB has it: a save that failed
 * (storage full) leaves the run pointing at the last checkpoint that really exists. Saves of one run run in order.
 */
export function recordCheckpoint(
  runId: string,
  step: number,
  bytes: Uint8Array,
  io: { save: typeof db.saveCheckpoint; saved: (runId: string) => void } = {
    save: db.saveCheckpoint,
    saved: (id) => persist(id, true),
  },
): Promise<void> {
  const previous = checkpointSaves.get(runId) ?? Promise.resolve();
  const next = previous.then(async () => {
    if (!usePlayground.getState().runs[runId]) return; // deleted meanwhile
    try {
      await io.save(runId, { step, bytes });
    } catch (error) {
      storageProblem(error);
      return;
    }
    actions.updateRun(runId, { lastCheckpointStep: step });
    io.saved(runId);
  });
  checkpointSaves.set(runId, next);
  return next;
}

function handleEngineEvent(runId: string, event: Extract<WorkerEvent, { type: 'engine' }>['event']): void {
  const before = usePlayground.getState();
  if (!before.runs[runId]) {
    const deleted = deletedRuns.get(runId);
    if (!deleted) return; // deleted for good: its last events are not wanted
    if (event.type === 'checkpoint') deleted.checkpoint = { step: event.step, bytes: event.bytes };
    else Object.assign(deleted, applyEngineEvent(deleted.run, deleted.history, event, performance.now()));
    return;
  }
  if (event.type === 'started') queueHistory(runId, { kind: 'truncate', after: event.startStep });
  actions.applyEvent(runId, event);
  const history = usePlayground.getState().histories[runId];
  switch (event.type) {
    case 'step':
      queueHistory(runId, { kind: 'step', point: history.steps[history.steps.length - 1] });
      break;
    case 'eval': {
      queueHistory(runId, { kind: 'eval', event });
      // the eval before it lost its PCA points in memory: store it without them too
      const index = history.evals.findIndex((e) => e.step === event.step);
      if (index > 0) queueHistory(runId, { kind: 'eval', event: history.evals[index - 1] });
      break;
    }
    case 'protocol-eval': {
      const evaluation = history.evals.find((e) => e.step === event.step);
      if (evaluation) queueHistory(runId, { kind: 'eval', event: evaluation });
      break;
    }
    case 'checkpoint':
      void recordCheckpoint(runId, event.step, event.bytes);
      return;
    case 'finished':
      live.delete(runId);
      break;
    case 'error':
      reportError(event.message, runName(runId), { key: `run-error:${runId}` });
      break;
    default:
      break;
  }
  persist(
    runId,
    event.type !== 'step' &&
      event.type !== 'status' &&
      event.type !== 'eval' &&
      event.type !== 'protocol-eval',
  );
}

function handleWorkerEvent(message: WorkerEvent): void {
  switch (message.type) {
    case 'backend':
      actions.setBackend(message.info);
      return;
    case 'engine':
      handleEngineEvent(message.runId, message.event);
      return;
    case 'run-state': {
      const run = usePlayground.getState().runs[message.runId];
      if (!run || run.status === 'error' || run.status === 'failed') return;
      actions.updateRun(message.runId, {
        status: message.state,
        pending: message.state === 'paused' && run.pending === 'pause' ? null : run.pending,
      });
      persist(message.runId);
      return;
    }
    case 'run-dataset':
      actions.updateRun(message.runId, { classes: message.classes });
      persist(message.runId);
      return;
    case 'run-failed': {
      live.delete(message.runId);
      const run = usePlayground.getState().runs[message.runId];
      if (!run) return;
      // a served dataset that is absent (or whose files are): what to do, the file that was missing folded after it
      const missing =
        !run.userDatasetKey &&
        (datasetMissing(usePlayground.getState().served, run.config.dataset.id) ||
          /not found in \S*\/datasets\//.test(message.message));
      const error = missing
        ? `${datasetAdvice(run.config.dataset.id)} (${message.message.replace(/;.*$/, '')})`
        : message.message;
      actions.updateRun(message.runId, {
        status: run.lastCheckpointStep === null ? 'failed' : 'error',
        error,
        phase: null,
        pending: null,
      });
      reportError(error, `${runName(message.runId)} could not start`, { key: `run-error:${message.runId}` });
      persist(message.runId, true);
      return;
    }
    case 'device-lost':
      reportError(message.message, undefined, { key: 'device-lost' });
      return;
    default:
      return;
  }
}

/**
 * The worker crashed: its runs are marked interrupted (not running), and, unless it keeps crashing, the new
 * worker resumes each from its last saved checkpoint.
 */
function onEngineCrash(message: string): void {
  client = null;
  const now = Date.now();
  crashTimes.push(now);
  while (crashTimes.length > 0 && now - crashTimes[0] > CRASH_WINDOW_MS) crashTimes.shift();
  const { runs } = usePlayground.getState();
  const toResume: string[] = [];
  for (const runId of live) {
    const run = runs[runId];
    if (!run) continue;
    if (isActive(run)) toResume.push(runId);
    actions.updateRun(runId, {
      status: run.status === 'paused' ? 'paused' : 'interrupted',
      interruptedAtStep: run.step,
      phase: null,
      phaseProgress: null,
      pending: null,
      lastStepAt: null,
    });
    persist(runId, true);
  }
  live.clear();
  usePlayground.setState({ backend: null });
  const again = crashTimes.length > MAX_CRASHES;
  reportError(
    again
      ? `${message}, again. Its runs were interrupted and keep their last checkpoints: press Resume on each when you want to retry.`
      : `${message}. It was restarted${toResume.length ? ` and ${toResume.length} run${toResume.length > 1 ? 's continue' : ' continues'} from the last saved checkpoint` : ''}.`,
    undefined,
    { key: 'engine-crash' },
  );
  worker(); // a fresh engine (reports its backend when ready)
  void probeServed();
  if (!again) for (const runId of toResume) void resumeRun(runId);
}

function runName(runId: string): string {
  const run = usePlayground.getState().runs[runId];
  return run ? run.config.name || run.id : runId;
}

const FIRST_PRESET = 'simclr-fashion';

/** A run record saved by an older version, with the fields added since; runs cut off mid-training marked interrupted. */
export function restoredRun(
  saved: Partial<RunRecord> & Pick<RunRecord, 'id' | 'config' | 'status' | 'step'>,
): RunRecord {
  const run: RunRecord = {
    createdAt: 0,
    totalSteps: 0,
    stepsPerEpoch: 0,
    imagesPerSecond: 0,
    msPerStep: 0,
    backend: null,
    parameters: null,
    lastCheckpointStep: null,
    error: null,
    userDatasetKey: null,
    userDatasetName: null,
    classes: null,
    importedFrom: null,
    ...saved,
    colour: saved.colour ?? colourFromId(saved.id),
    msPerEval: saved.msPerEval ?? 0,
    timedSteps: 0,
    phase: null,
    phaseProgress: null,
    pending: null,
    interruptedAtStep: saved.interruptedAtStep ?? null,
    lastStepAt: null,
    evalMsSinceStep: 0,
  };
  if (isActive(run)) return { ...run, status: 'interrupted', interruptedAtStep: run.step };
  return run;
}

/** Loads persisted state and the shared-link config, and starts the worker (which reports the backend). */
export async function initialise(): Promise<void> {
  worker();
  void probeServed();
  const fallbackDraft = () => validateDraft(presetById(FIRST_PRESET)?.config ?? {}).config;
  try {
    const state = await db.loadState();
    const runs = state.runs.map(restoredRun);
    // first start: the embedded Fashion-MNIST recipe, so one click on Start trains on real data
    actions.hydrate(runs, state.histories, state.datasets, state.draft ?? fallbackDraft(), state.selected);
  } catch (error) {
    actions.hydrate([], {}, [], fallbackDraft());
    reportError(error, 'could not read saved runs from IndexedDB');
  }
  let selectedTimer: ReturnType<typeof setTimeout> | null = null;
  usePlayground.subscribe((state, previous) => {
    if (state.selected === previous.selected) return;
    if (selectedTimer) clearTimeout(selectedTimer);
    selectedTimer = setTimeout(
      () => db.saveSelected(usePlayground.getState().selected).catch(storageProblem),
      300,
    );
  });
  applySharedLink(window.location.hash);
}

/** Asks the worker which served datasets exist (presets on absent ones are marked before Start). */
async function probeServed(): Promise<void> {
  try {
    const reply = await worker().request({ type: 'probe-datasets' });
    actions.setServed(reply.available);
  } catch {
    // unknown: nothing is marked, and a run on an absent dataset explains itself when it fails
  }
}

/** Loads a config from a shared link's hash into the editor; a bad link is reported in a line and removed. */
export function applySharedLink(hash: string): void {
  if (!/[#&]config=/.test(hash)) return;
  try {
    const config = decodeConfigHash(hash);
    if (config) {
      editDraft(config, '');
      actions.notify('info', `Loaded the config "${config.name || 'unnamed'}" from the shared link.`);
    }
  } catch (error) {
    reportError(error, undefined, { key: 'shared-link' });
  }
  // the config is in the editor now (or the link was bad): the address bar goes back to the plain page
  window.history.replaceState(null, '', `${window.location.pathname}${window.location.search}`);
}

/** Sets the config being edited; `presetId` names the preset it came from ('' for a link, a file or a run). */
export function editDraft(draft: unknown, presetId?: string): void {
  actions.setDraft(draft, presetId ?? usePlayground.getState().presetId);
  db.saveDraft(draft).catch(storageProblem);
}

/** Loads a preset into the editor. */
export function loadPreset(id: string): void {
  const preset = presetById(id);
  if (!preset) return;
  actions.setDraftDataset(null);
  editDraft(validateDraft(preset.config).config ?? preset.config, id);
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
  const state = usePlayground.getState();
  const dataset = datasetKey ? state.datasets.find((d) => d.key === datasetKey) : undefined;
  return restoredRun({
    id: newRunId(),
    config,
    createdAt: Date.now(),
    status: 'stopped',
    step: 0,
    userDatasetKey: datasetKey,
    userDatasetName: dataset?.name ?? null,
    classes: dataset?.classes ?? null,
    colour: nextRunColour(Object.values(state.runs).map((run) => run.colour)),
  });
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

/** Asks the browser once to keep this site's storage (runs and checkpoints) under storage pressure. */
function requestPersistentStorage(): void {
  if (persistRequested) return;
  persistRequested = true;
  const storage = typeof navigator !== 'undefined' ? navigator.storage : undefined;
  if (!storage?.persist) return;
  void storage
    .persisted()
    .then((already) => (already ? true : storage.persist()))
    .catch(() => false);
}

/** Creates a run from a valid config and queues it in the worker (tagged when an experiment made it). Returns its id. */
export async function startRun(
  config: RunConfig,
  datasetKey: string | null = usePlayground.getState().draftDatasetKey,
  experiment?: ExperimentTag,
): Promise<string | null> {
  const run: RunRecord = {
    ...newRunRecord(config, datasetKey),
    status: 'queued',
    ...(experiment ? { experiment } : {}),
  };
  actions.addRun(run);
  requestPersistentStorage();
  try {
    await db.saveRun(run);
    await launch(run, false);
  } catch (error) {
    live.delete(run.id);
    actions.updateRun(run.id, { status: 'failed', error: (error as Error).message });
    reportError(error, `${config.name || run.id} could not start`);
  }
  return run.id;
}

/** Pauses a run at the next step boundary (the row says so at once; the worker confirms). */
export function pauseRun(runId: string): void {
  if (!live.has(runId)) return;
  actions.updateRun(runId, { pending: 'pause' });
  worker().send({ type: 'pause', runId });
}

/** Resumes a paused run in the worker, or restarts a stopped/crashed/reloaded one from its last checkpoint. */
export async function resumeRun(runId: string): Promise<void> {
  const run = usePlayground.getState().runs[runId];
  if (!run) return;
  if (live.has(runId)) {
    actions.updateRun(runId, { pending: null });
    worker().send({ type: 'resume', runId });
    return;
  }
  actions.updateRun(runId, { status: 'queued', error: null, pending: null });
  try {
    await launch(run, true);
  } catch (error) {
    live.delete(runId);
    actions.updateRun(runId, { status: run.status, error: (error as Error).message });
    reportError(error, `${runName(runId)} could not resume`);
  }
}

/** Stops a run at the next step boundary; its state is checkpointed so Resume continues from there. */
export function stopRun(runId: string): void {
  if (live.has(runId)) {
    actions.updateRun(runId, { pending: 'stop' });
    worker().send({ type: 'stop', runId });
  } else {
    actions.updateRun(runId, { status: 'stopped', pending: null });
    persist(runId, true);
  }
}

/** How long a deleted run can be brought back. */
export const UNDO_MS = 10_000;

/**
 * Deletes a run with an Undo: it leaves the list and the database at once (closing the page keeps it deleted),
 * a live one is paused in the worker, and for UNDO_MS an Undo puts everything back (and resumes it if it was
 * training); after that the worker frees it.
 */
export async function deleteRun(runId: string): Promise<void> {
  const first = usePlayground.getState().runs[runId];
  if (!first || deletedRuns.has(runId)) return;
  const wasLive = live.has(runId);
  const wasActive = wasLive && isActive(first);
  if (wasActive) worker().send({ type: 'pause', runId });
  // the last saved checkpoint travels with the undo; pending saves finish first
  await (checkpointSaves.get(runId) ?? Promise.resolve());
  const checkpoint = await db.loadCheckpoint(runId).catch(() => undefined);
  // the run as it is now (events kept arriving while the checkpoint was read)
  const state = usePlayground.getState();
  const run = state.runs[runId];
  if (!run) return;
  const history = state.histories[runId] ?? emptyHistory();
  const position = state.runOrder.indexOf(runId);
  const wasSelected = state.selected.includes(runId);
  historyOps.delete(runId);
  dirtyRuns.delete(runId);
  checkpointSaves.delete(runId);
  deletedRuns.set(runId, { run, history, checkpoint });
  actions.removeRun(runId);
  await db.deleteRun(runId).catch(storageProblem);
  let undone = false;
  const name = run.config.name || run.id;
  actions.notify('info', `Deleted "${name}".`, {
    key: `deleted:${runId}`,
    ttlMs: UNDO_MS,
    action: {
      label: 'Undo',
      run: () => {
        const kept = deletedRuns.get(runId);
        deletedRuns.delete(runId);
        if (!kept) return;
        undone = true;
        void restoreRun({ ...kept.run, pending: null }, kept.history, kept.checkpoint, {
          position,
          selected: wasSelected,
          wasLive,
          wasActive,
        });
      },
    },
    onClose: () => {
      if (undone) return;
      deletedRuns.delete(runId);
      if (live.has(runId)) worker().send({ type: 'delete', runId });
      live.delete(runId);
    },
  });
}

async function restoreRun(
  run: RunRecord,
  history: MetricHistory,
  checkpoint: db.StoredCheckpoint | undefined,
  where: { position: number; selected: boolean; wasLive: boolean; wasActive: boolean },
): Promise<void> {
  const { position, selected, wasLive, wasActive } = where;
  const base = checkpoint ? { ...run, lastCheckpointStep: checkpoint.step } : run;
  const restored: RunRecord = wasLive
    ? { ...base, status: wasActive ? 'queued' : base.status }
    : isActive(base)
      ? { ...base, status: 'interrupted' }
      : base;
  actions.addRun(restored, { ...history, revision: history.revision + 1 }, { position, selected });
  try {
    await db.saveRun(restored);
    await db.putHistory(run.id, history);
    if (checkpoint) await db.saveCheckpoint(run.id, checkpoint);
  } catch (error) {
    storageProblem(error);
  }
  if (wasActive) worker().send({ type: 'resume', runId: run.id });
  actions.notify('info', `Restored "${run.config.name || run.id}".`, { key: `deleted:${run.id}` });
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
  const baseName = config.name.replace(/ · [^·]+$/, (suffix) =>
    suffix.slice(3) === lossInfo(config.loss.id).name ? '' : suffix,
  );
  const draft = {
    ...config,
    name: `${baseName || 'run'} · ${def.name}`,
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

/** Loads a run's config into the editor (to fix what made it fail, or to start a variant). */
export function editRunConfig(runId: string): void {
  const run = usePlayground.getState().runs[runId];
  if (!run) return;
  actions.setDraftDataset(run.userDatasetKey);
  editDraft(run.config, '');
  actions.notify('info', `The config of "${run.config.name || run.id}" is in the editor.`);
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
  const history = state.histories[runId] ?? emptyHistory();
  const text = (name: string, body: string, mime: string): ExportedFile => ({
    name,
    mime,
    bytes: new TextEncoder().encode(body),
  });
  try {
    switch (kind) {
      case 'history-csv':
        return download([text(`${stem}-history.csv`, historyCsv(history), 'text/csv')], '');
      case 'history-json':
        return download([text(`${stem}-history.json`, historyJson(run, history), 'application/json')], '');
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

/** Most bytes read from chosen weight files (well above the largest network this app trains). */
export const MAX_WEIGHTS_BYTES = 1024 * 1024 * 1024;

/**
 * Imports weights (safetensors, or TF.js model.json + weights.bin, or a zip of those) into a new run named after
 * the weights' own run and the file; the run can then continue training (resume) or be evaluated.
 */
export async function importWeights(config: RunConfig, files: ExportedFile[]): Promise<string | null> {
  const fileNames = files.map((f) => f.name);
  const run = newRunRecord(config, null);
  try {
    const reply = await worker().request({
      type: 'import-weights',
      runId: run.id,
      config: run.config,
      files,
    });
    const taken = Object.values(usePlayground.getState().runs).map((r) => r.config.name);
    const imported: RunRecord = {
      ...run,
      config: { ...reply.config, name: importedRunName(reply.config.name, fileNames, taken) },
      status: 'stopped',
      totalSteps: reply.totalSteps,
      stepsPerEpoch: reply.stepsPerEpoch,
      importedFrom: fileNames.join(' + '),
    };
    await db.saveCheckpoint(run.id, { step: 0, bytes: reply.checkpoint });
    imported.lastCheckpointStep = 0;
    actions.addRun(imported);
    await db.saveRun(imported);
    actions.notify(
      'info',
      `Weights imported into "${imported.config.name}": Evaluate measures them, Resume trains them further.`,
    );
    return run.id;
  } catch (error) {
    if (error instanceof db.StorageError) storageProblem(error);
    else reportError(error, 'import of weights failed');
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

/** Most bytes read from one drop (an image folder of 200,000 small images, or the CIFAR-10 files, fit). */
export const MAX_DROP_BYTES = 1024 * 1024 * 1024;

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
      `Dataset "${parsed.name}" added: ${parsed.train.count} training and ${parsed.test.count} test images, ${parsed.classes.length} classes.`,
    );
  } catch (error) {
    if (error instanceof db.StorageError) storageProblem(error);
    else reportError(error, 'the dropped files were refused');
  }
}

export async function removeDataset(key: string): Promise<void> {
  actions.removeDataset(key);
  await db.deleteDataset(key).catch(storageProblem);
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
