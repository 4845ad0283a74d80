import * as tf from '@tensorflow/tfjs';
import type { MethodModule } from '../methods/types';
import type { RunConfig } from './config';
import type { Network } from '../nn/types';
import type { Optimizer } from './optim';
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

/** Reads the RunConfig and step stored in a checkpoint without building anything (to resume a run from it). */
export function checkpointInfo(bytes: Uint8Array): { config: unknown; step: number } {
  const { metadata } = readCheckpointFile(bytes);
  return { config: JSON.parse(metadata.run_config), step: Number(metadata.step) };
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
  return file;
}

/**
 * Restores a checkpoint into a freshly built network / optimizer / loss of a compatible config. Every tensor
 * is checked (name and shape) before anything is written, so a mismatched file changes nothing.
 */
export function decodeCheckpoint(
  bytes: Uint8Array,
  config: RunConfig,
  network: Network,
  optimizer: Optimizer,
  loss: MethodModule,
): TrainerState {
  const file = readCheckpointFile(bytes);
  const saved = JSON.parse(file.metadata.run_config) as RunConfig;
  if (architectureOf(saved) !== architectureOf(config)) {
    throw new Error(
      `checkpoint was made for a different run (${architectureOf(saved)}); this run is ${architectureOf(config)}. ` +
        'Resume it with the config stored in the checkpoint.',
    );
  }
  const byPrefix = (prefix: string) => file.tensors.filter((t) => t.name.startsWith(prefix));
  const netEntries = byPrefix('net/');
  const weights = network.allWeights;
  if (netEntries.length !== weights.length) {
    throw new Error(`checkpoint has ${netEntries.length} network tensors, the network has ${weights.length}`);
  }
  weights.forEach((weight, i) => {
    const entry = netEntries[i];
    const expectedName = `net/${i}/${weight.originalName}`;
    if (entry.name !== expectedName)
      throw new Error(`checkpoint tensor ${i} is ${entry.name}, expected ${expectedName}`);
    if (entry.shape.join(',') !== weight.shape.join(',')) {
      throw new Error(
        `checkpoint tensor ${entry.name} has shape [${entry.shape}], the network expects [${weight.shape}]`,
      );
    }
  });
  const lossVars = loss.trainableVariables;
  const lossVarEntries = byPrefix('lossvar/');
  if (lossVarEntries.length !== lossVars.length) {
    throw new Error(
      `checkpoint has ${lossVarEntries.length} variables of loss '${config.loss.id}', the loss has ${lossVars.length}`,
    );
  }
  lossVars.forEach((variable, i) => {
    if (lossVarEntries[i].shape.join(',') !== variable.shape.join(',')) {
      throw new Error(
        `checkpoint loss variable ${i} has shape [${lossVarEntries[i].shape}], expected [${variable.shape}]`,
      );
    }
  });

  const toTensor = (t: SafetensorsTensor) =>
    tf.tensor(t.data, t.shape, t.dtype === 'F32' ? 'float32' : 'int32');
  tf.tidy(() => {
    weights.forEach((weight, i) => weight.write(toTensor(netEntries[i])));
    lossVars.forEach((variable, i) => variable.assign(toTensor(lossVarEntries[i])));
  });
  const slots = Object.fromEntries(byPrefix('opt/').map((t) => [t.name.slice('opt/'.length), toTensor(t)]));
  optimizer.setState({ step: Number(file.metadata.optimizer_step), slots });
  tf.dispose(Object.values(slots));
  const lossStateEntries = byPrefix('lossstate/');
  if (lossStateEntries.length > 0) {
    if (!loss.setState)
      throw new Error(`checkpoint holds state for loss '${config.loss.id}', which has none`);
    const state = Object.fromEntries(
      lossStateEntries.map((t) => [t.name.slice('lossstate/'.length), toTensor(t)]),
    );
    try {
      loss.setState(state);
    } finally {
      tf.dispose(Object.values(state));
    }
  }
  return { step: Number(file.metadata.step), optimizerStep: Number(file.metadata.optimizer_step) };
}
