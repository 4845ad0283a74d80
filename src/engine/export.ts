import * as tf from '@tensorflow/tfjs';
import type { Network } from '../nn/types';
import { firstNonFinite } from './finite';
import { readSafetensors, writeSafetensors, type SafetensorsTensor } from './safetensors';

/** A tfjs LayersModel export: model.json (topology + weights manifest + run config) and its weights.bin. */
export interface TfjsExport {
  modelJson: tf.io.ModelJSON;
  weightsBin: ArrayBuffer;
}

/** A weights file to load into a network. */
export type WeightsFile =
  | { kind: 'safetensors'; bytes: Uint8Array | ArrayBuffer }
  | { kind: 'tfjs'; modelJson: unknown; weightsBin: ArrayBuffer };

/** File name that model.json's weights manifest points at; save the weights under this name next to it. */
export const TFJS_WEIGHTS_FILE_NAME = 'weights.bin';
/** Key of the RunConfig in model.json's userDefinedMetadata and in the safetensors __metadata__. */
export const RUN_CONFIG_KEY = 'run_config';
/** Key of the input preprocessing (PreprocessingMetadata) in both formats' metadata. */
export const PREPROCESSING_KEY = 'preprocessing';
/** Name of the layer at the TF.js model's input that standardises raw pixels. */
export const INPUT_LAYER_NAME = 'input_standardize';
/** safetensors __metadata__.format of a model export (checkpoints say 'contrastive-playground-checkpoint'). */
export const MODEL_FORMAT = 'contrastive-playground-model';

/**
 * How a run turned pixels into the network's input: the trainer divides by 255, then standardises every channel
 * with the training set's mean and standard deviation (channelStatistics in trainer.ts).
 */
export interface InputPreprocessing {
  /** [height, width, channels] of the training images. */
  imageShape: [number, number, number];
  /** Per-channel mean of the training pixels in [0, 1] units. */
  mean: number[];
  /** Per-channel standard deviation of the training pixels in [0, 1] units (> 0). */
  std: number[];
}

/** What an export records besides the weights. */
export interface ExportInfo {
  preprocessing: InputPreprocessing;
  /** Optimizer steps the weights were trained for (train.py resumes its schedule there). */
  step?: number;
}

/**
 * The input contract both exports carry (model.json userDefinedMetadata.preprocessing, and the same object as
 * JSON in safetensors __metadata__.preprocessing): x[..., c] = (pixels[..., c] * scale - mean[c]) / std[c].
 */
export interface PreprocessingMetadata {
  /** Raw pixel values, channels last (what the TF.js model takes as is). */
  input: 'pixels NHWC';
  /** The pixels' expected range: bytes as float32. */
  value_range: [0, 255];
  image_size: [number, number];
  channels: number;
  /** 1 / 255: maps pixels to [0, 1] before mean and std apply. */
  scale: number;
  mean: number[];
  std: number[];
  formula: string;
}

/** The preprocessing as its metadata object; throws when mean/std do not fit the channels or std is not > 0. */
export function preprocessingMetadata(preprocessing: InputPreprocessing): PreprocessingMetadata {
  const { imageShape, mean, std } = preprocessing;
  const [height, width, channels] = imageShape;
  if (![height, width, channels].every((d) => Number.isInteger(d) && d >= 1)) {
    throw new Error(
      `export: imageShape must be [height, width, channels] of positive integers, got [${imageShape.join(', ')}]`,
    );
  }
  if (mean.length !== channels || std.length !== channels) {
    throw new Error(
      `export: the preprocessing has ${mean.length} means and ${std.length} stds for ${channels} channels; pass one per channel`,
    );
  }
  if (!mean.every(Number.isFinite) || !std.every((s) => Number.isFinite(s) && s > 0)) {
    throw new Error(
      `export: channel mean [${mean.join(', ')}] and std [${std.join(', ')}] must be finite with every std > 0`,
    );
  }
  return {
    input: 'pixels NHWC',
    value_range: [0, 255],
    image_size: [height, width],
    channels,
    scale: 1 / 255,
    mean: [...mean],
    std: [...std],
    formula: 'x[..., c] = (pixels[..., c] / 255 - mean[c]) / std[c]',
  };
}

/** Both halves of a Network, with the prefix their weights carry in safetensors files. */
function parts(network: Network): { prefix: string; model: tf.LayersModel }[] {
  return [
    { prefix: 'backbone', model: network.backbone },
    { prefix: 'projector', model: network.projector },
  ];
}

/** The network's weights under their file names: `${part}/${originalName}` (safetensors) or `originalName` (tfjs). */
function namedWeights(network: Network, format: 'safetensors' | 'tfjs'): Map<string, tf.LayerVariable> {
  const named = new Map<string, tf.LayerVariable>();
  for (const { prefix, model } of parts(network)) {
    for (const weight of model.weights) {
      // originalName, not name: tfjs appends _1, _2 to variable names when a second network is built.
      const name = format === 'safetensors' ? `${prefix}/${weight.originalName}` : weight.originalName;
      if (named.has(name)) {
        throw new Error(
          `the network has two weights named "${name}"; give the backbone and projector layers distinct names`,
        );
      }
      named.set(name, weight);
    }
  }
  return named;
}

/** The RunConfig as plain JSON (what both formats embed); throws if it cannot be serialised. */
function runConfigJson(runConfig: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(runConfig);
  } catch (error) {
    throw new Error(
      `the run config cannot be saved as JSON (${(error as Error).message}); pass a plain-data RunConfig`,
      {
        cause: error,
      },
    );
  }
  if (json === undefined)
    throw new Error('the run config cannot be saved as JSON; pass a plain-data RunConfig object');
  return json;
}

/** One combined model per backbone: building it again on every checkpoint would add a graph node each time. */
const combinedModels = new WeakMap<tf.LayersModel, { model: tf.LayersModel; key: string }>();

/**
 * pixels -> [h, z] as one LayersModel: a Rescaling layer with per-channel scale 1 / (255 std) and offset
 * -mean / std (the trainer's standardisation, stock TF.js and Keras, no weights), then the backbone's and
 * projector's own layers and weights.
 */
function combinedModel(network: Network, preprocessing: PreprocessingMetadata): tf.LayersModel {
  const key = JSON.stringify([preprocessing.mean, preprocessing.std]);
  const cached = combinedModels.get(network.backbone);
  if (cached !== undefined && cached.key === key && cached.model.layers.includes(network.projector)) {
    return cached.model;
  }
  const inputShape = network.backbone.inputs[0].shape.slice(1) as number[];
  const images = tf.input({ shape: inputShape, name: 'images' });
  // Rescaling multiplies and adds with broadcasting, so per-channel arrays work (its typings say number).
  const standardize = tf.layers.rescaling({
    scale: preprocessing.std.map((s) => 1 / (255 * s)) as unknown as number,
    offset: preprocessing.mean.map((m, c) => -m / preprocessing.std[c]) as unknown as number,
    name: INPUT_LAYER_NAME,
  });
  const h = network.backbone.apply(standardize.apply(images)) as tf.SymbolicTensor;
  const z = network.projector.apply(h) as tf.SymbolicTensor;
  // It owns no weights of its own, so it is never disposed (disposing it would dispose the network's layers).
  const combined = tf.model({ inputs: images, outputs: [h, z], name: 'contrastive_encoder' });
  combinedModels.set(network.backbone, { model: combined, key });
  return combined;
}

/**
 * Exports standardisation + backbone + projector as ONE tf.LayersModel (raw pixels [N, H, W, C] in [0, 255] ->
 * [h, z]) in the tfjs layers format, so `model.predict(pixels)` gives the app's embeddings. The RunConfig is in
 * modelJson.userDefinedMetadata.run_config, the input contract in .preprocessing (PreprocessingMetadata). Load it
 * back with `tf.loadLayersModel(tf.io.fromMemory(...))` or `importWeights(network, { kind: 'tfjs', ... })`.
 * Weight names are the layers' stable original names (e.g. "proj_fc0/kernel").
 */
export async function exportTfjs(
  network: Network,
  runConfig: unknown,
  info: ExportInfo,
): Promise<TfjsExport> {
  namedWeights(network, 'tfjs'); // fails early on clashing names, which would make the file unloadable
  const preprocessing = preprocessingMetadata(info.preprocessing);
  const combined = combinedModel(network, preprocessing);
  combined.setUserDefinedMetadata({
    [RUN_CONFIG_KEY]: JSON.parse(runConfigJson(runConfig)) as object,
    [PREPROCESSING_KEY]: preprocessing,
    ...(info.step === undefined ? {} : { step: info.step }),
  });

  let saved: tf.io.ModelArtifacts | undefined;
  await combined.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  if (saved === undefined || saved.weightSpecs === undefined || saved.weightData === undefined) {
    throw new Error('exportTfjs: tfjs produced no weights for the model');
  }
  const modelJson: tf.io.ModelJSON = {
    modelTopology: saved.modelTopology as object,
    format: saved.format,
    generatedBy: saved.generatedBy,
    convertedBy: saved.convertedBy,
    weightsManifest: [{ paths: [TFJS_WEIGHTS_FILE_NAME], weights: saved.weightSpecs }],
    userDefinedMetadata: saved.userDefinedMetadata,
  };
  return { modelJson, weightsBin: tf.io.CompositeArrayBuffer.join(saved.weightData) };
}

/**
 * Exports every weight (trainable and BatchNorm moving statistics) as safetensors. Tensor names are
 * `backbone/<layer>/<weight>` and `projector/<layer>/<weight>` from the layers' original names; layouts are
 * tfjs's (conv kernels [kh, kw, in, out], dense kernels [in, out]). __metadata__ holds format, run_config (the
 * RunConfig JSON), preprocessing (PreprocessingMetadata JSON), weight_layout and step. Async because the weights
 * are read back from the device.
 */
export async function exportSafetensors(
  network: Network,
  runConfig: unknown,
  info: ExportInfo,
): Promise<Uint8Array> {
  const preprocessing = preprocessingMetadata(info.preprocessing);
  const tensors: SafetensorsTensor[] = [];
  for (const [name, weight] of namedWeights(network, 'safetensors')) {
    const value = weight.read();
    if (value.dtype !== 'float32' && value.dtype !== 'int32') {
      throw new Error(
        `exportSafetensors: ${name} is ${value.dtype}; only float32 and int32 weights can be exported`,
      );
    }
    const data = (await value.data()) as Float32Array | Int32Array;
    tensors.push({ name, dtype: value.dtype === 'float32' ? 'F32' : 'I32', shape: [...value.shape], data });
  }
  return writeSafetensors(tensors, {
    format: MODEL_FORMAT,
    [RUN_CONFIG_KEY]: runConfigJson(runConfig),
    [PREPROCESSING_KEY]: JSON.stringify(preprocessing),
    weight_layout: 'tfjs: conv kernel [kh, kw, in, out], dense kernel [in, out]',
    ...(info.step === undefined ? {} : { step: String(info.step) }),
  });
}

interface DecodedWeight {
  shape: number[];
  dtype: 'float32' | 'int32';
  values: Float32Array | Int32Array;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Weight specs of a tfjs model.json, validated: a manifest of groups, each a list of {name, shape, dtype}. */
function tfjsWeightSpecs(modelJson: unknown): tf.io.WeightsManifestEntry[] {
  if (!isObject(modelJson) || !Array.isArray(modelJson.weightsManifest)) {
    throw new Error('model.json has no weightsManifest array; is this a tfjs layers model.json?');
  }
  const specs: tf.io.WeightsManifestEntry[] = [];
  for (const group of modelJson.weightsManifest as unknown[]) {
    if (!isObject(group) || !Array.isArray(group.weights)) {
      throw new Error('model.json: a weightsManifest entry has no "weights" list');
    }
    for (const spec of group.weights as unknown[]) {
      if (!isObject(spec) || typeof spec.name !== 'string' || !Array.isArray(spec.shape)) {
        throw new Error(`model.json: weight spec ${JSON.stringify(spec)} needs a string name and a shape`);
      }
      const shape = spec.shape as unknown[];
      if (!shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
        throw new Error(
          `model.json: weight ${spec.name} has shape ${JSON.stringify(spec.shape)}; expected non-negative integers`,
        );
      }
      if (spec.quantization !== undefined) {
        throw new Error(`model.json: weight ${spec.name} is quantized; re-export it without quantization`);
      }
      if (spec.dtype !== 'float32' && spec.dtype !== 'int32') {
        throw new Error(
          `model.json: weight ${spec.name} has dtype ${String(spec.dtype)}; expected float32 or int32`,
        );
      }
      specs.push(spec as unknown as tf.io.WeightsManifestEntry);
    }
  }
  return specs;
}

/** Splits weights.bin by the manifest (specs in order, 4 bytes per value, back to back). */
function decodeTfjs(modelJson: unknown, weightsBin: ArrayBuffer): Map<string, DecodedWeight> {
  if (!(weightsBin instanceof ArrayBuffer)) throw new Error('weights.bin must be an ArrayBuffer');
  const specs = tfjsWeightSpecs(modelJson);
  const neededBytes = specs.reduce((sum, s) => sum + 4 * s.shape.reduce((a, b) => a * b, 1), 0);
  if (neededBytes !== weightsBin.byteLength) {
    throw new Error(
      `weights.bin has ${weightsBin.byteLength} bytes but model.json's manifest describes ${neededBytes}; ` +
        `the two files are not from the same export`,
    );
  }
  const decoded = new Map<string, DecodedWeight>();
  let offset = 0;
  for (const spec of specs) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = weightsBin.slice(offset, offset + 4 * count);
    offset += 4 * count;
    if (decoded.has(spec.name)) throw new Error(`model.json lists weight ${spec.name} twice`);
    const dtype = spec.dtype as 'float32' | 'int32';
    decoded.set(spec.name, {
      shape: spec.shape,
      dtype,
      values: dtype === 'float32' ? new Float32Array(bytes) : new Int32Array(bytes),
    });
  }
  return decoded;
}

function decodeSafetensors(bytes: Uint8Array | ArrayBuffer): Map<string, DecodedWeight> {
  const decoded = new Map<string, DecodedWeight>();
  for (const t of readSafetensors(bytes).tensors) {
    decoded.set(t.name, { shape: t.shape, dtype: t.dtype === 'F32' ? 'float32' : 'int32', values: t.data });
  }
  return decoded;
}

const shapeText = (shape: readonly (number | null)[]) => `[${shape.join(',')}]`;

/**
 * Loads a safetensors or tfjs export into `network`. Every weight the network has must be in the file with the
 * same shape and dtype, and the file must have no other tensors; otherwise it throws, naming the tensor and the
 * expected and found shape, and leaves the network unchanged (all checks run before the first write). A file
 * holding NaN or Inf in any weight is refused the same way.
 */
export async function importWeights(network: Network, file: WeightsFile): Promise<void> {
  const format = file.kind;
  const decoded =
    format === 'safetensors' ? decodeSafetensors(file.bytes) : decodeTfjs(file.modelJson, file.weightsBin);
  const expected = namedWeights(network, format);

  const problems: string[] = [];
  const nonFinite: string[] = [];
  for (const [name, weight] of expected) {
    const found = decoded.get(name);
    if (found === undefined) {
      problems.push(`${name} is missing from the file, the run expects shape ${shapeText(weight.shape)}`);
    } else if (!tf.util.arraysEqual(found.shape, weight.shape as number[])) {
      problems.push(
        `${name} has shape ${shapeText(found.shape)}, the run expects ${shapeText(weight.shape)}`,
      );
    } else if (found.dtype !== weight.dtype) {
      problems.push(`${name} is ${found.dtype}, the run expects ${weight.dtype}`);
    } else {
      const bad = firstNonFinite(found.values);
      if (bad >= 0) nonFinite.push(`${name} holds ${found.values[bad]} at value ${bad}`);
    }
  }
  for (const name of decoded.keys()) {
    if (!expected.has(name)) problems.push(`${name} is in the file but not in the run's network`);
  }
  if (problems.length > 0) {
    const more =
      problems.length > 1
        ? ` (and ${problems.length - 1} more: ${problems.slice(1, 4).join('; ')}${problems.length > 4 ? '; ...' : ''})`
        : '';
    throw new Error(`weights file is for a different encoder: ${problems[0]}${more}`);
  }
  if (nonFinite.length > 0) {
    throw new Error(
      `weights file holds NaN or Inf values (${nonFinite.slice(0, 3).join('; ')}${nonFinite.length > 3 ? `; and ${nonFinite.length - 3} more weights` : ''}): ` +
        'it was saved from a run that diverged; nothing was loaded, export the weights of an earlier checkpoint instead',
    );
  }

  for (const [name, weight] of expected) {
    const { values, shape, dtype } = decoded.get(name)!;
    const value = tf.tensor(values, shape, dtype);
    weight.write(value);
    value.dispose();
  }
}

/** The RunConfig embedded in an export (parsed JSON, not yet validated), or undefined if the file has none. */
export function embeddedRunConfig(file: WeightsFile): unknown {
  if (file.kind === 'safetensors') {
    const json = readSafetensors(file.bytes).metadata[RUN_CONFIG_KEY];
    return json === undefined ? undefined : (JSON.parse(json) as unknown);
  }
  const metadata = isObject(file.modelJson) ? file.modelJson.userDefinedMetadata : undefined;
  return isObject(metadata) ? metadata[RUN_CONFIG_KEY] : undefined;
}

/** The input preprocessing embedded in an export (parsed, not validated), or undefined if the file has none. */
export function embeddedPreprocessing(file: WeightsFile): unknown {
  if (file.kind === 'safetensors') {
    const json = readSafetensors(file.bytes).metadata[PREPROCESSING_KEY];
    return json === undefined ? undefined : (JSON.parse(json) as unknown);
  }
  const metadata = isObject(file.modelJson) ? file.modelJson.userDefinedMetadata : undefined;
  return isObject(metadata) ? metadata[PREPROCESSING_KEY] : undefined;
}
