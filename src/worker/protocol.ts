import type { RunConfig } from '../engine/config';
import type { DatasetSplit } from '../engine/data/types';
import type { EngineEvent } from '../engine/events';

/**
 * The typed message protocol between the UI (main thread) and the engine worker. Both directions are
 * discriminated unions on `type`; every message is plain structured-cloneable data. Engine events are
 * forwarded unchanged, wrapped with the id of the run that produced them.
 */

export type RunId = string;

/** Which tfjs backend the worker runs on, and why the faster ones were skipped. */
export interface BackendInfo {
  active: string;
  /** GPU adapter description (e.g. "google swiftshader") when WebGPU is active, else null. */
  adapter: string | null;
  skipped: { name: string; reason: string }[];
  /** The project's kernels in use on `active` (kernel names), from initBackend's report. */
  kernels: string[];
}

/** A dataset the user dropped into the page, already parsed to uint8 NHWC splits (kept in IndexedDB). */
export interface UserDatasetPayload {
  key: string;
  name: string;
  imageShape: [number, number, number];
  classes: string[];
  train: DatasetSplit;
  test: DatasetSplit;
}

/** A file the user dropped or chose, with its path inside a dropped folder (webkitRelativePath) when there is one. */
export interface DroppedFile {
  name: string;
  path: string;
  bytes: Uint8Array;
}

/**
 * The files worker (files.worker.ts) parses what the user drops, off the main thread and away from training:
 * one request, one answer, then the UI ends the worker.
 */
export type FilesCommand = { type: 'parse-dataset'; requestId: string; files: DroppedFile[] };
export type FilesEvent =
  | { type: 'dataset-result'; requestId: string; dataset: Omit<UserDatasetPayload, 'key'> }
  | { type: 'request-failed'; requestId: string; message: string };

/** Where a run's weights come from when the worker has to (re)build its trainer. */
export interface RunSource {
  runId: RunId;
  config: RunConfig;
  /** Checkpoint bytes to restore (weights, optimizer, step); omitted = fresh initial weights. */
  checkpoint?: Uint8Array;
  userDataset?: UserDatasetPayload;
}

export type ExportFormat = 'tfjs' | 'safetensors' | 'embeddings' | 'pytorch';

export type WorkerCommand =
  /** Build a trainer (restoring `checkpoint` when given) and queue it for training. */
  | ({ type: 'start' } & RunSource)
  | { type: 'pause'; runId: RunId }
  | { type: 'resume'; runId: RunId }
  | { type: 'stop'; runId: RunId }
  /** Forget a run: stop it if it trains and free its tensors. */
  | { type: 'delete'; runId: RunId }
  /** Run the eval metrics now (on the live trainer, or on one rebuilt from the source). */
  | ({ type: 'evaluate'; requestId: string } & RunSource)
  | ({ type: 'export'; requestId: string; format: ExportFormat } & RunSource)
  /** Augmented views of the first `images` training images under `config`'s augmentation, for the preview grid. */
  | {
      type: 'preview-augment';
      requestId: string;
      config: RunConfig;
      images: number;
      seed: number;
      userDataset?: UserDatasetPayload;
    }
  /** Load weights from a file into a fresh network for `config`; answers with checkpoint bytes at step 0. */
  | ({ type: 'import-weights'; requestId: string; files: ExportedFile[] } & RunSource)
  /** Which served datasets (public/datasets/<id>) this site has, so the UI can mark presets that cannot run. */
  | { type: 'probe-datasets'; requestId: string };

export interface ExportedFile {
  name: string;
  mime: string;
  bytes: Uint8Array;
}

/** One augmented view as RGBA pixels, ready for ImageData. */
export interface PreviewView {
  width: number;
  height: number;
  rgba: Uint8ClampedArray;
}

export type WorkerEvent =
  | { type: 'backend'; info: BackendInfo }
  | { type: 'engine'; runId: RunId; event: EngineEvent }
  /**
   * Scheduling state: a started run is being built ('preparing': loading data, building the network), waits
   * for its turn ('queued'), trains ('running') or is paused.
   */
  | { type: 'run-state'; runId: RunId; state: 'preparing' | 'queued' | 'running' | 'paused' }
  /** The dataset a run trains on, once loaded: its name and class names (legends of the PCA scatter). */
  | { type: 'run-dataset'; runId: RunId; name: string; classes: string[] }
  /** The run could not even start (dataset missing, bad config...). */
  | { type: 'run-failed'; runId: RunId; message: string }
  | { type: 'export-result'; requestId: string; runId: RunId; files: ExportedFile[] }
  | { type: 'preview-result'; requestId: string; classes: string[]; labels: number[]; views: PreviewView[][] }
  /** Weights loaded: the config they fit (embedded in the file, else the one sent) and a step-0 checkpoint. */
  | {
      type: 'import-result';
      requestId: string;
      runId: RunId;
      config: RunConfig;
      checkpoint: Uint8Array;
      /** The run length `config` gives (the imported weights sit at its step 0). */
      totalSteps: number;
      stepsPerEpoch: number;
    }
  | { type: 'evaluate-result'; requestId: string; runId: RunId }
  /** Served datasets by id: true when its files are there (synthetic is always true). */
  | { type: 'datasets-result'; requestId: string; available: Record<string, boolean> }
  | { type: 'request-failed'; requestId: string; message: string }
  /** The GPU device was lost: running runs failed and keep their last checkpoint; the worker re-initialises. */
  | { type: 'device-lost'; message: string };

/** Byte buffers a message can hand over without copying (postMessage transfer list). */
export function transferables(
  message: WorkerCommand | WorkerEvent | FilesCommand | FilesEvent,
): Transferable[] {
  const buffers = new Set<ArrayBuffer>();
  const add = (bytes: Uint8Array | Uint8ClampedArray | Int32Array | undefined) => {
    if (
      bytes &&
      bytes.buffer instanceof ArrayBuffer &&
      bytes.byteOffset === 0 &&
      bytes.byteLength === bytes.buffer.byteLength
    ) {
      buffers.add(bytes.buffer);
    }
  };
  switch (message.type) {
    case 'export-result':
      message.files.forEach((file) => add(file.bytes));
      break;
    case 'preview-result':
      message.views.forEach((row) => row.forEach((view) => add(view.rgba)));
      break;
    case 'import-result':
      add(message.checkpoint);
      break;
    case 'dataset-result':
      add(message.dataset.train.images);
      add(message.dataset.test.images);
      break;
    default:
      break;
  }
  return [...buffers];
}
