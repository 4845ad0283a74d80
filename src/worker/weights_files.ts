import type { WeightsFile } from '../engine/export';
import { TFJS_WEIGHTS_FILE_NAME } from '../engine/export';
import type { ExportedFile } from './protocol';
import { MiB, SizeLimitError, unzipCapped } from './archives';

/**
 * Limits for a weights zip: the TF.js export holds model.json and weights.bin, and the largest network this app
 * trains in a browser has well under 1 GiB of float32 weights.
 */
export const WEIGHTS_ZIP_LIMITS = { maxMembers: 16, memberLimit: 1024 * MiB, totalLimit: 1024 * MiB };

const ACCEPTED =
  'choose a .safetensors file, or model.json together with weights.bin (or the TF.js zip this app exports)';

/** The members of any .zip among `files` in its place (the TF.js export is a zip of model.json + weights.bin). */
function openZips(files: ExportedFile[]): ExportedFile[] {
  return files.flatMap((file) => {
    if (!file.name.toLowerCase().endsWith('.zip')) return [file];
    let entries: Record<string, Uint8Array>;
    try {
      entries = unzipCapped(file.bytes, { what: file.name, ...WEIGHTS_ZIP_LIMITS });
    } catch (error) {
      if (error instanceof SizeLimitError) throw error;
      throw new Error(`${(error as Error).message}; ${ACCEPTED}`, { cause: error });
    }
    return Object.entries(entries).map(([name, bytes]) => ({
      name: name.split('/').pop() ?? name,
      mime: '',
      bytes,
    }));
  });
}

/** Recognises the uploaded weights: one .safetensors file, or a TF.js model.json + weights.bin pair (or their zip). */
export function weightsFileFrom(chosen: ExportedFile[]): WeightsFile {
  if (chosen.length === 0) throw new Error(`no file was chosen; ${ACCEPTED}`);
  const files = openZips(chosen);
  const safetensors = files.find((f) => f.name.toLowerCase().endsWith('.safetensors'));
  if (safetensors) return { kind: 'safetensors', bytes: safetensors.bytes };
  const modelJsonFile = files.find((f) => f.name.toLowerCase().endsWith('.json'));
  const weightsFile =
    files.find((f) => f.name === TFJS_WEIGHTS_FILE_NAME) ??
    files.find((f) => f.name.toLowerCase().endsWith('.bin'));
  if (!modelJsonFile || !weightsFile) {
    const names = files.map((f) => f.name).join(', ');
    throw new Error(
      modelJsonFile
        ? `model.json needs its ${TFJS_WEIGHTS_FILE_NAME} chosen together with it; ${ACCEPTED}`
        : `${names}: not a weights export; ${ACCEPTED}`,
    );
  }
  let modelJson: unknown;
  try {
    modelJson = JSON.parse(new TextDecoder().decode(modelJsonFile.bytes));
  } catch (error) {
    throw new Error(`${modelJsonFile.name} is not valid JSON (${(error as Error).message}); ${ACCEPTED}`, {
      cause: error,
    });
  }
  const bytes = weightsFile.bytes;
  return {
    kind: 'tfjs',
    modelJson,
    weightsBin: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
  };
}
