// Node-only: `npm run export-pytorch -- --from OUT_OR_CHECKPOINT --out DIR` writes a run's PyTorch project.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { CHECKPOINT_FORMAT } from '../engine/checkpoint';
import { parseRunConfig } from '../engine/config';
import {
  exportSafetensors,
  importWeights,
  MODEL_FORMAT,
  PREPROCESSING_KEY,
  RUN_CONFIG_KEY,
} from '../engine/export';
import { buildPytorchProject, checkPytorchSupport } from '../engine/pytorch/project';
import { readProjectSources } from '../engine/pytorch/node_sources';
import { readSafetensors } from '../engine/safetensors';
import { Trainer } from '../engine/trainer';
import { openDatasetFromDir } from './open_dataset';

/** The option table: parseArgs reads it and --help prints it. */
export const EXPORT_PYTORCH_OPTIONS = {
  from: {
    type: 'string',
    short: 'f',
    value: 'PATH',
    help: 'an `npm run train` output folder, its model.safetensors, or a checkpoint.safetensors',
  },
  out: {
    type: 'string',
    short: 'o',
    value: 'DIR',
    help: 'the folder to write the project to (new or empty)',
  },
  'data-dir': {
    type: 'string',
    short: 'd',
    value: 'DIR',
    help: 'dataset folder, read only to measure the input statistics that a checkpoint lacks (default public/datasets/<dataset id>)',
  },
  force: {
    type: 'boolean',
    help: 'write into a folder that is not empty (files of the same name are replaced)',
  },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const;

export function exportPytorchHelp(): string {
  const lines = Object.entries(EXPORT_PYTORCH_OPTIONS).map(([name, o]) => {
    const flag = `${'short' in o ? `-${o.short}, ` : '    '}--${name}${'value' in o ? ` ${o.value}` : ''}`;
    return `  ${flag.padEnd(24)} ${o.help}`;
  });
  return [
    'Usage: npm run export-pytorch -- --from OUT_OR_CHECKPOINT --out DIR',
    '',
    "Writes the run's PyTorch project: model.py, losses.py, methods.py, augment.py, data.py, train.py (DDP under",
    'torchrun), embed.py, safetensors_io.py, config.py, distributed.py, README.md, run.json and model.safetensors.',
    '',
    'Options:',
    ...lines,
  ].join('\n');
}

class UsageError extends Error {}

/** The file --from names: a folder's model.safetensors when it has the export's metadata, else its checkpoint. */
function weightsPath(from: string): string {
  if (!existsSync(from)) throw new UsageError(`--from ${from} does not exist`);
  if (!statSync(from).isDirectory()) return from;
  const model = path.join(from, 'model.safetensors');
  const checkpoint = path.join(from, 'checkpoint.safetensors');
  if (existsSync(model) && existsSync(checkpoint)) {
    // an export written before exports carried the preprocessing: the checkpoint has the same weights
    return PREPROCESSING_KEY in readSafetensors(new Uint8Array(readFileSync(model))).metadata
      ? model
      : checkpoint;
  }
  if (existsSync(model)) return model;
  if (existsSync(checkpoint)) return checkpoint;
  throw new UsageError(`--from ${from} holds neither model.safetensors nor checkpoint.safetensors`);
}

/**
 * model.safetensors with the preprocessing for `bytes`: as is when it already has it; otherwise the run is rebuilt
 * (its dataset gives the channel statistics) from the checkpoint or the older export, and exported again.
 */
async function exportedWeights(
  bytes: Uint8Array,
  file: string,
  dataDir: string | undefined,
): Promise<Uint8Array> {
  let metadata: Record<string, string>;
  try {
    metadata = readSafetensors(bytes).metadata;
  } catch (error) {
    throw new UsageError(`${file}: ${(error as Error).message}`);
  }
  const isCheckpoint = metadata.format === CHECKPOINT_FORMAT;
  if (!isCheckpoint && metadata.format === MODEL_FORMAT && PREPROCESSING_KEY in metadata) return bytes;
  if (!(RUN_CONFIG_KEY in metadata)) {
    throw new UsageError(`${file} has no run_config metadata: it is not a playground export or checkpoint`);
  }
  const config = parseRunConfig(JSON.parse(metadata[RUN_CONFIG_KEY]));
  // before measuring anything: a loss the project cannot train is refused at once
  checkPytorchSupport(config);
  console.error(
    `${file} lacks the input preprocessing: measuring it on the '${config.dataset.id}' training set`,
  );
  await tf.setBackend('cpu');
  const dataset = await openDatasetFromDir(
    config.dataset,
    dataDir ?? path.join('public', 'datasets', config.dataset.id),
    config.seed,
  );
  const trainer = await Trainer.create(config, { dataset, onEvent: () => undefined, backend: 'cpu' });
  try {
    if (isCheckpoint) trainer.restore(bytes);
    else await importWeights(trainer.network, { kind: 'safetensors', bytes });
    const step = isCheckpoint ? trainer.step : Number(metadata.step ?? 0);
    return await exportSafetensors(trainer.network, config, { preprocessing: trainer.preprocessing, step });
  } finally {
    trainer.dispose();
  }
}

/** The command: writes the project, returns the exit code (0, 1 on failure, 2 for bad usage or input). */
export async function exportPytorchMain(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({ args: argv, options: EXPORT_PYTORCH_OPTIONS, allowPositionals: false }).values;
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${exportPytorchHelp()}`);
    return 2;
  }
  if (args.help) {
    console.log(exportPytorchHelp());
    return 0;
  }
  try {
    if (!args.from || !args.out) throw new UsageError('--from and --out are both needed');
    const out = args.out;
    if (existsSync(out) && (await readdir(out)).length > 0 && !args.force) {
      throw new UsageError(`--out ${out} is not empty; pick a new folder or pass --force`);
    }
    const file = weightsPath(args.from);
    const weights = await exportedWeights(new Uint8Array(await readFile(file)), file, args['data-dir']);
    const files = buildPytorchProject({ weights, sources: await readProjectSources() });
    await mkdir(out, { recursive: true });
    for (const f of files) await writeFile(path.join(out, f.name), f.bytes);
    console.error(
      `wrote ${out}/{${files.map((f) => f.name).join(',')}}\n` +
        `next: cd ${out} && python train.py --config run.json --resume model.safetensors (see README.md)`,
    );
    return 0;
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    return error instanceof UsageError ? 2 : 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('export_pytorch.ts')) {
  exportPytorchMain(process.argv.slice(2)).then((code) => process.exit(code));
}
