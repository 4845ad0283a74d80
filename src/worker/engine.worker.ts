/// <reference lib="webworker" />
import * as tf from '@tensorflow/tfjs';
import wasmUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { initBackend, onDeviceLost } from '../engine/backend';
import { parseRunConfig } from '../engine/config';
import {
  embeddedRunConfig,
  exportSafetensors,
  exportTfjs,
  importWeights,
  TFJS_WEIGHTS_FILE_NAME,
} from '../engine/export';
import { BUNDLED_SOURCES } from '../engine/pytorch/bundled_sources';
import { buildPytorchProject } from '../engine/pytorch/project';
import { Trainer } from '../engine/trainer';
import { datasetFor, probeDatasets } from './datasets';
import { exportEmbeddings } from './embeddings';
import { augmentPreview } from './preview';
import {
  transferables,
  type BackendInfo,
  type ExportedFile,
  type RunSource,
  type WorkerCommand,
  type WorkerEvent,
} from './protocol';
import { RunScheduler } from './scheduler';
import { weightsFileFrom } from './weights_files';

/**
 * The engine worker: owns the tfjs backend (WebGPU first), hosts one Trainer per active run and trains
 * them round-robin, answers export / preview / import requests. The UI talks to it only through the
 * protocol in protocol.ts.
 */

declare const self: DedicatedWorkerGlobalScope;

const baseUrl = new URL(import.meta.env.BASE_URL, self.location.origin).href;

function post(message: WorkerEvent): void {
  self.postMessage(message, transferables(message));
}

const scheduler = new RunScheduler({
  onEngineEvent: (runId, event) => post({ type: 'engine', runId, event }),
  onStateChange: (runId, state) => post({ type: 'run-state', runId, state }),
});

let backendReady: Promise<BackendInfo> = startBackend();

// Vite fingerprints each .wasm file, so the wasm backend gets a name -> URL map rather than a folder prefix.
setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmUrl,
  'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedSimdUrl,
});

function startBackend(): Promise<BackendInfo> {
  const ready = (async (): Promise<BackendInfo> => {
    const result = await initBackend({ environment: 'browser' });
    const unsubscribe = onDeviceLost((lost) => {
      unsubscribe();
      const reason = `the GPU device was lost (${lost.reason}: ${lost.message}); the run stopped and keeps its last checkpoint: press Resume to continue from it`;
      scheduler.failAll(reason);
      post({ type: 'device-lost', message: reason });
      // the lost device's backend cannot be reused: drop it and pick the best backend left
      tf.removeBackend('webgpu');
      backendReady = startBackend();
    });
    const info: BackendInfo = {
      active: result.active,
      adapter: result.adapter ?? null,
      skipped: result.skipped.map((entry) => ({ name: entry.name, reason: entry.reason })),
      kernels: result.kernels,
    };
    post({ type: 'backend', info });
    return info;
  })();
  ready.catch((error: unknown) => {
    post({
      type: 'backend',
      info: {
        active: 'none',
        adapter: null,
        skipped: [{ name: 'all', reason: errorMessage(error) }],
        kernels: [],
      },
    });
  });
  return ready;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Builds a trainer for a run, restoring its checkpoint when the source has one. */
async function buildTrainer(source: RunSource, emit: boolean): Promise<Trainer> {
  const info = await backendReady;
  if (emit)
    post({
      type: 'engine',
      runId: source.runId,
      event: { type: 'status', step: 0, phase: 'preparing-data' },
    });
  const dataset = await datasetFor(source.config, baseUrl, source.userDataset);
  if (emit) post({ type: 'run-dataset', runId: source.runId, name: dataset.name, classes: dataset.classes });
  const trainer = await Trainer.create(source.config, {
    dataset,
    backend: info.active,
    onEvent: emit ? (event) => post({ type: 'engine', runId: source.runId, event }) : () => undefined,
  });
  if (source.checkpoint) {
    try {
      trainer.restore(source.checkpoint);
    } catch (error) {
      trainer.dispose();
      throw error;
    }
  }
  return trainer;
}

/** Runs `use` on the live trainer of the run, or on a temporary one rebuilt from its source. */
async function withTrainer<T>(source: RunSource, use: (trainer: Trainer) => Promise<T>): Promise<T> {
  const live = scheduler.trainer(source.runId);
  if (live instanceof Trainer) return use(live);
  const trainer = await buildTrainer(source, false);
  try {
    return await use(trainer);
  } finally {
    trainer.dispose();
  }
}

/** What an export records besides the weights: the run's input standardisation and step. */
const exportInfo = (trainer: Trainer) => ({ preprocessing: trainer.preprocessing, step: trainer.step });

async function exportFiles(command: Extract<WorkerCommand, { type: 'export' }>): Promise<ExportedFile[]> {
  return withTrainer(command, async (trainer) => {
    switch (command.format) {
      case 'tfjs': {
        const { modelJson, weightsBin } = await exportTfjs(
          trainer.network,
          command.config,
          exportInfo(trainer),
        );
        return [
          {
            name: 'model.json',
            mime: 'application/json',
            bytes: new TextEncoder().encode(JSON.stringify(modelJson)),
          },
          {
            name: TFJS_WEIGHTS_FILE_NAME,
            mime: 'application/octet-stream',
            bytes: new Uint8Array(weightsBin),
          },
        ];
      }
      case 'safetensors':
        return [
          {
            name: 'model.safetensors',
            mime: 'application/octet-stream',
            bytes: await exportSafetensors(trainer.network, command.config, exportInfo(trainer)),
          },
        ];
      case 'pytorch': {
        const weights = await exportSafetensors(trainer.network, command.config, exportInfo(trainer));
        return buildPytorchProject({ weights, sources: BUNDLED_SOURCES });
      }
      case 'embeddings': {
        const dataset = await datasetFor(command.config, baseUrl, command.userDataset);
        return exportEmbeddings(trainer, dataset.classes, Math.min(command.config.eval.size, 2000));
      }
    }
  });
}

async function handle(command: WorkerCommand): Promise<void> {
  switch (command.type) {
    case 'start': {
      try {
        if (scheduler.has(command.runId)) {
          scheduler.resume(command.runId);
          return;
        }
        // registered first, so a pause / stop / delete sent while the data loads is kept and applied
        scheduler.prepare(command.runId);
        const trainer = await buildTrainer(command, true);
        scheduler.add(command.runId, trainer);
      } catch (error) {
        scheduler.abandon(command.runId);
        post({ type: 'run-failed', runId: command.runId, message: errorMessage(error) });
      }
      return;
    }
    case 'pause':
      scheduler.pause(command.runId);
      return;
    case 'resume':
      scheduler.resume(command.runId);
      return;
    case 'stop':
      await scheduler.stop(command.runId);
      return;
    case 'delete':
      scheduler.delete(command.runId);
      return;
    case 'evaluate': {
      await withTrainer(command, async (trainer) => {
        const event = await trainer.evaluate();
        // a live run reports through its own stream; a rebuilt one has no stream, so forward here
        post({ type: 'engine', runId: command.runId, event });
      });
      post({ type: 'evaluate-result', requestId: command.requestId, runId: command.runId });
      return;
    }
    case 'export': {
      const files = await exportFiles(command);
      post({ type: 'export-result', requestId: command.requestId, runId: command.runId, files });
      return;
    }
    case 'preview-augment': {
      await backendReady;
      const dataset = await datasetFor(command.config, baseUrl, command.userDataset);
      const { labels, views } = await augmentPreview(command.config, dataset, command.images, command.seed);
      post({ type: 'preview-result', requestId: command.requestId, classes: dataset.classes, labels, views });
      return;
    }
    case 'probe-datasets':
      post({
        type: 'datasets-result',
        requestId: command.requestId,
        available: await probeDatasets(baseUrl),
      });
      return;
    case 'import-weights': {
      const weights = weightsFileFrom(command.files);
      // the file's own RunConfig (our exports embed it) describes the network the weights fit
      const embedded = embeddedRunConfig(weights);
      const config = embedded === undefined ? command.config : parseRunConfig(embedded);
      const trainer = await buildTrainer({ ...command, config, checkpoint: undefined }, false);
      try {
        await importWeights(trainer.network, weights);
        const checkpoint = await trainer.checkpoint();
        post({
          type: 'import-result',
          requestId: command.requestId,
          runId: command.runId,
          config,
          checkpoint: checkpoint.slice(),
          totalSteps: trainer.totalSteps,
          stepsPerEpoch: trainer.stepsPerEpoch,
        });
      } finally {
        trainer.dispose();
      }
      return;
    }
  }
}

self.onmessage = (message: MessageEvent<WorkerCommand>) => {
  const command = message.data;
  handle(command).catch((error: unknown) => {
    if ('requestId' in command)
      post({ type: 'request-failed', requestId: command.requestId, message: errorMessage(error) });
    else if ('runId' in command)
      post({ type: 'run-failed', runId: command.runId, message: errorMessage(error) });
  });
};
