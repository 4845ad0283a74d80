import * as tf from '@tensorflow/tfjs';
import type { MethodModule } from '../methods/types';
import type { RunConfig } from './config';
import type { Network } from '../nn/types';
import type { Optimizer } from './optim';
import { firstNonFinite } from './finite';
import { readSafetensors, writeSafetensors, type SafetensorsTensor } from './safetensors';

/**
 * Checkpoints: everything a run needs to continue exactly where it was (network weights incl. BatchNorm
 * statistics, optimizer slots, the loss method's own variables and state, the step), stored as one
 * safetensors file whose metadata carries the RunConfig. Plain bytes, so the same checkpoint is written to
 * disk by the CLI, kept in IndexedDB by the playground, and posted between worker and page.
 */

export const CHECKPOINT_FORMAT = 'contrastive-playground-checkpoint';
export const CHECKPOINT_VERSION = '1';

export interface TrainerState {
  /** Optimizer steps completed. */
  step: number;
  /** The optimizer's own step counter (Adam bias correction). */
  optimizerStep: number;
}

async function toEntry(name: string, tensor: tf.Tensor): Promise<SafetensorsTensor> {
  if (tensor.dtype !== 'float32' && tensor.dtype !== 'int32') {
    throw new Error(`checkpoint: ${name} has dtype ${tensor.dtype}; only float32 and int32 are stored`);
  }
  const data = (await tensor.data()) as Float32Array | Int32Array;
  const bad = firstNonFinite(data);
  if (bad >= 0) {
    throw new Error(
      `${name} holds ${data[bad]} (value ${bad}); a checkpoint never stores NaN or Inf, so the previous one is kept`,
    );
  }
  return { name, dtype: tensor.dtype === 'float32' ? 'F32' : 'I32', shape: [...tensor.shape], data };
}

/** The parts of a config that decide tensor shapes: a checkpoint only loads into a run that agrees on them. */
function architectureOf(config: RunConfig): string {
  return JSON.stringify({
    dataset: config.dataset.id,
    encoder: config.encoder,
    projector: config.projector,
    loss: config.loss.id,
    optimizer: config.optimizer.type,
  });
}

export async function encodeCheckpoint(
  config: RunConfig,
  state: TrainerState,
  network: Network,
  optimizer: Optimizer,
  loss: MethodModule,
): Promise<Uint8Array> {
  const entries: SafetensorsTensor[] = [];
  for (const [i, weight] of network.allWeights.entries()) {
    entries.push(await toEntry(`net/${i}/${weight.originalName}`, weight.read()));
  }
  for (const [name, slot] of Object.entries(optimizer.getState().slots)) {
    entries.push(await toEntry(`opt/${name}`, slot));
  }
  for (const [i, variable] of loss.trainableVariables.entries()) {
    entries.push(await toEntry(`lossvar/${i}`, variable));
  }
  const lossState = loss.getState?.() ?? {};
  try {
    for (const [name, tensor] of Object.entries(lossState))
      entries.push(await toEntry(`lossstate/${name}`, tensor));
  } finally {
    // getState hands out copies that the caller owns
    tf.dispose(Object.values(lossState));
  }
  return writeSafetensors(entries, {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    run_config: JSON.stringify(config),
    step: String(state.step),
    optimizer_step: String(state.optimizerStep),
  });
}

/** A metadata field that must be a non-negative integer written in decimal digits. */
function metadataCount(metadata: Record<string, string>, key: string): number {
  const text = metadata[key];
  const value = Number(text);
  if (typeof text !== 'string' || !/^\d{1,15}$/.test(text) || !Number.isSafeInteger(value)) {
    throw new Error(
      `checkpoint metadata ${key} is ${JSON.stringify(text)}; it must be a non-negative integer (the file is damaged or not written by this app)`,
    );
  }
  return value;
}

/** What a checkpoint says about itself, validated: its RunConfig (parsed JSON, not yet a RunConfig) and steps. */
export interface CheckpointInfo {
  config: unknown;
  step: number;
  optimizerStep: number;
}

/** Reads the RunConfig and step stored in a checkpoint without building anything (to resume a run from it). */
export function checkpointInfo(bytes: Uint8Array): CheckpointInfo {
  return readCheckpointFile(bytes).info;
}

function readCheckpointFile(bytes: Uint8Array) {
  let file;
  try {
    file = readSafetensors(bytes);
  } catch (err) {
    throw new Error(`not a readable checkpoint: ${(err as Error).message}`, { cause: err });
  }
  if (file.metadata.format !== CHECKPOINT_FORMAT) {
    throw new Error(
      `this safetensors file is not a training checkpoint (metadata.format is ${JSON.stringify(file.metadata.format)}); ` +
        'to load exported weights use "import weights" instead',
    );
  }
  if (file.metadata.version !== CHECKPOINT_VERSION) {
    throw new Error(
      `checkpoint version ${file.metadata.version} is not supported (this build reads version ${CHECKPOINT_VERSION})`,
    );
  }
  let config: unknown;
  try {
    config = JSON.parse(file.metadata.run_config);
  } catch (err) {
    throw new Error(
      `checkpoint metadata run_config is not JSON (${(err as Error).message}); the file is damaged`,
      { cause: err },
    );
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config))
    throw new Error('checkpoint metadata run_config is not a RunConfig object; the file is damaged');
  const info: CheckpointInfo = {
    config,
    step: metadataCount(file.metadata, 'step'),
    optimizerStep: metadataCount(file.metadata, 'optimizer_step'),
  };
  return { ...file, info };
}

const shapeText = (shape: readonly number[]) => `[${shape.join(',')}]`;

/** Optimizer slot kinds per optimizer type (optim.ts names slots `<kind>/<variable index>`). */
const SLOT_KINDS: Record<string, readonly string[]> = {
  sgd: ['v'],
  lars: ['v'],
  adam: ['m', 'v'],
  adamw: ['m', 'v'],
};

/**
 * Restores a checkpoint into a freshly built network / optimizer / loss of a compatible config. Everything is
 * checked before anything is written (metadata, tensor names, shapes, dtypes, optimizer slot names, loss state,
 * no NaN or Inf), so a mismatched or damaged file throws and changes nothing.
 */
export function decodeCheckpoint(
  bytes: Uint8Array,
  config: RunConfig,
  network: Network,
  optimizer: Optimizer,
  loss: MethodModule,
): TrainerState {
  const file = readCheckpointFile(bytes);
  const saved = file.info.config as RunConfig;
  if (architectureOf(saved) !== architectureOf(config)) {
    throw new Error(
      `checkpoint was made for a different run (${architectureOf(saved)}); this run is ${architectureOf(config)}. ` +
        'Resume it with the config stored in the checkpoint.',
    );
  }
  const unexpected = file.tensors.find((t) => !/^(net|opt|lossvar|lossstate)\//.test(t.name));
  if (unexpected) throw new Error(`checkpoint holds an unexpected tensor ${unexpected.name}`);
  const byPrefix = (prefix: string) => file.tensors.filter((t) => t.name.startsWith(prefix));
  const expectTensor = (
    entry: SafetensorsTensor,
    like: tf.Tensor | { shape: number[]; dtype: string },
    what: string,
  ) => {
    if (entry.shape.join(',') !== like.shape.join(',')) {
      throw new Error(
        `checkpoint tensor ${entry.name} has shape ${shapeText(entry.shape)}, ${what} expects ${shapeText(like.shape)}`,
      );
    }
    const dtype = like.dtype === 'int32' ? 'I32' : 'F32';
    if (entry.dtype !== dtype)
      throw new Error(`checkpoint tensor ${entry.name} is ${entry.dtype}, ${what} expects ${dtype}`);
  };

  const netEntries = byPrefix('net/');
  const weights = network.allWeights;
  if (netEntries.length !== weights.length) {
    throw new Error(`checkpoint has ${netEntries.length} network tensors, the network has ${weights.length}`);
  }
  // file order is data order: match by index, as encodeCheckpoint writes them
  const netByName = new Map(netEntries.map((t) => [t.name, t]));
  const netOrdered = weights.map((weight, i) => {
    const expectedName = `net/${i}/${weight.originalName}`;
    const entry = netByName.get(expectedName);
    if (!entry) throw new Error(`checkpoint lacks network tensor ${expectedName}`);
    expectTensor(entry, { shape: weight.shape as number[], dtype: weight.dtype }, 'the network');
    return entry;
  });

  const lossVars = loss.trainableVariables;
  const lossVarEntries = byPrefix('lossvar/');
  if (lossVarEntries.length !== lossVars.length) {
    throw new Error(
      `checkpoint has ${lossVarEntries.length} variables of loss '${config.loss.id}', the loss has ${lossVars.length}`,
    );
  }
  const lossVarByName = new Map(lossVarEntries.map((t) => [t.name, t]));
  const lossVarOrdered = lossVars.map((variable, i) => {
    const entry = lossVarByName.get(`lossvar/${i}`);
    if (!entry) throw new Error(`checkpoint lacks loss variable lossvar/${i}`);
    expectTensor(entry, variable, `loss '${config.loss.id}'`);
    return entry;
  });

  const optimized = [...network.trainableVariables, ...lossVars];
  const kinds = SLOT_KINDS[config.optimizer.type] ?? [];
  const slotEntries = byPrefix('opt/');
  for (const entry of slotEntries) {
    const match = /^opt\/([a-z]+)\/(\d+)$/.exec(entry.name);
    const index = match ? Number(match[2]) : -1;
    if (!match || !kinds.includes(match[1]) || index >= optimized.length) {
      throw new Error(
        `checkpoint holds optimizer slot ${entry.name}, which optimizer '${config.optimizer.type}' does not have ` +
          `(its slots are ${kinds.map((k) => `opt/${k}/<0..${optimized.length - 1}>`).join(', ')})`,
      );
    }
    expectTensor(entry, optimized[index], `variable ${index}`);
  }

  const lossStateEntries = byPrefix('lossstate/');
  if (lossStateEntries.length > 0 && !loss.setState)
    throw new Error(`checkpoint holds state for loss '${config.loss.id}', which has none`);
  if (loss.getState) {
    let current: Record<string, tf.Tensor> | null = null;
    try {
      current = loss.getState();
    } catch {
      // a method that cannot describe its state yet validates it in setState
    }
    if (current) {
      try {
        const names = Object.keys(current).sort();
        const stored = lossStateEntries.map((t) => t.name.slice('lossstate/'.length)).sort();
        if (names.join(',') !== stored.join(',')) {
          throw new Error(
            `checkpoint state of loss '${config.loss.id}' holds [${stored.join(', ')}], the loss has [${names.join(', ')}]`,
          );
        }
        for (const entry of lossStateEntries) {
          expectTensor(
            entry,
            current[entry.name.slice('lossstate/'.length)],
            `loss '${config.loss.id}' state`,
          );
        }
      } finally {
        tf.dispose(Object.values(current));
      }
    }
  }

  for (const entry of file.tensors) {
    const bad = firstNonFinite(entry.data);
    if (bad >= 0) {
      throw new Error(
        `checkpoint tensor ${entry.name} holds ${entry.data[bad]} at value ${bad}: a checkpoint with NaN or Inf cannot be restored (take an earlier one)`,
      );
    }
  }

  // everything checked: now write
  const toTensor = (t: SafetensorsTensor) =>
    tf.tensor(t.data, t.shape, t.dtype === 'F32' ? 'float32' : 'int32');
  tf.tidy(() => {
    weights.forEach((weight, i) => weight.write(toTensor(netOrdered[i])));
    lossVars.forEach((variable, i) => variable.assign(toTensor(lossVarOrdered[i])));
  });
  const slots = Object.fromEntries(slotEntries.map((t) => [t.name.slice('opt/'.length), toTensor(t)]));
  // slots the file lacks (none yet at step 0) start from zero, as a fresh optimizer's do
  for (const [name, slot] of Object.entries(optimizer.getState().slots)) {
    if (!(name in slots)) slots[name] = tf.zerosLike(slot);
  }
  optimizer.setState({ step: file.info.optimizerStep, slots });
  tf.dispose(Object.values(slots));
  if (lossStateEntries.length > 0) {
    const state = Object.fromEntries(
      lossStateEntries.map((t) => [t.name.slice('lossstate/'.length), toTensor(t)]),
    );
    try {
      loss.setState!(state);
    } finally {
      tf.dispose(Object.values(state));
    }
  }
  return { step: file.info.step, optimizerStep: file.info.optimizerStep };
}
