import { lossInfo, type LossId } from '../../losses/catalog';
import { parseRunConfig, type RunConfig } from '../config';
import { MODEL_FORMAT, PREPROCESSING_KEY, RUN_CONFIG_KEY, type PreprocessingMetadata } from '../export';
import { readSafetensors } from '../safetensors';

/**
 * The PyTorch project of a run: the Python sources of ./project (model.py, losses.py, ... train.py, README.md
 * with the run's details filled in), the RunConfig as run.json, and the run's model.safetensors export. No tfjs:
 * it reads the export's metadata and writes files, so the CLI and the engine worker build the same project.
 */

/** The files of ./project the project is made of (Python sources and the README template). */
export const PROJECT_SOURCE_FILES = [
  'README.md',
  'config.py',
  'data.py',
  'augment.py',
  'model.py',
  'losses.py',
  'methods.py',
  'distributed.py',
  'safetensors_io.py',
  'train.py',
  'embed.py',
] as const;

/** One file of the project (the shape of the worker's ExportedFile). */
export interface ProjectFile {
  name: string;
  mime: string;
  bytes: Uint8Array;
}

const DATA_HINTS: Record<RunConfig['dataset']['id'], string> = {
  synthetic:
    "The run trains on the playground's synthetic shapes, generated from the RunConfig's seed: no data files.",
  cifar10:
    'Put the CIFAR-10 binary version (`data_batch_1.bin` ... `data_batch_5.bin`, `test_batch.bin` from ' +
    '`cifar-10-binary.tar.gz`) in `data/cifar10`, or pass `--data-dir`.',
  mnist:
    'Put the MNIST idx files (`train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`, `t10k-...`) in ' +
    '`data/mnist`, or pass `--data-dir`.',
  'fashion-mnist':
    'Put the Fashion-MNIST idx files (`train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`, `t10k-...`) ' +
    'in `data/fashion-mnist`, or pass `--data-dir`.',
};

const USER_DATASET_HINT =
  ' A run on a dataset dropped into the playground takes the same files: `--data-dir` with the CIFAR-10 ' +
  'batches, or with the folder of class sub-folders (images are scaled to 32x32 RGB, as the playground does).';

function describeEncoder(encoder: RunConfig['encoder']): string {
  switch (encoder.type) {
    case 'mlp':
      return `MLP, hidden [${encoder.hidden.join(', ')}]`;
    case 'convnet':
      return `ConvNet, channels [${encoder.channels.join(', ')}]`;
    case 'resnet':
      return `CIFAR ResNet, widths [${encoder.widths.join(', ')}], blocks [${encoder.blocks.join(', ')}]`;
  }
}

const round = (values: number[]) => values.map((v) => Number(v.toPrecision(6))).join(', ');

/** The README's table of the run. */
function runSummary(config: RunConfig, preprocessing: PreprocessingMetadata, step: string): string {
  const loss = lossInfo(config.loss.id);
  const params = Object.entries(config.loss.params)
    .map(([name, value]) => `${name} ${value}`)
    .join(', ');
  const p = config.projector;
  const rows: [string, string][] = [
    ['loss', `${loss.name} (\`${config.loss.id}\`${params ? `: ${params}` : ''})`],
    ['encoder', describeEncoder(config.encoder)],
    [
      'projector',
      `${p.layers} layers, hidden ${p.hidden}, out ${p.out}, BatchNorm ${p.batchNorm ? 'on' : 'off'}`,
    ],
    [
      'data',
      `${config.dataset.id}, images ${preprocessing.image_size.join('x')}x${preprocessing.channels}, ` +
        `channel mean [${round(preprocessing.mean)}], std [${round(preprocessing.std)}]`,
    ],
    [
      'training',
      `batch ${config.batchSize}, epochs ${config.epochs}, ${config.optimizer.type} lr ${config.optimizer.lr}, ` +
        `seed ${config.seed}; the weights are from step ${step}`,
    ],
  ];
  return ['| run | |', '| --- | --- |', ...rows.map(([key, value]) => `| ${key} | ${value} |`)].join('\n');
}

/** Parses a metadata JSON value, naming the key in the error. */
function metadataJson(metadata: Record<string, string>, key: string): unknown {
  const text = metadata[key];
  if (text === undefined) {
    throw new Error(
      `the weights have no "${key}" metadata: they come from an older export; export the run again ` +
        '(npm run export-pytorch -- --from checkpoint.safetensors rebuilds it from a checkpoint)',
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new Error(`the weights' "${key}" metadata is not JSON (${(error as Error).message})`, {
      cause: error,
    });
  }
}

/**
 * Objectives of the catalogue the PyTorch project has no training code for, with what it lacks (config.py's
 * NOT_IN_PYTORCH lists the same ids; methods.py's build_objective refuses them).
 */
const PYTORCH_UNSUPPORTED_LOSSES: Readonly<Partial<Record<LossId, string>>> = {
  beclr: 'BECLR (its DyCE memory and student-teacher recipe)',
  sepclr: 'SepCLR (its second, salient encoder)',
};

/** Losses of the catalogue the PyTorch project cannot train. */
export const NOT_IN_PYTORCH = Object.keys(PYTORCH_UNSUPPORTED_LOSSES) as LossId[];

/**
 * Why the PyTorch project cannot continue a run of `config` (a protocol or an objective it does not implement),
 * or null when it can. The message names what is missing and that model.safetensors still loads on its own.
 */
export function pytorchUnsupported(config: RunConfig): string | null {
  const reasons: string[] = [];
  if (config.protocol)
    reasons.push(
      `protocol '${config.protocol.type}' (its data split and evaluation exist in the playground only)`,
    );
  const loss = PYTORCH_UNSUPPORTED_LOSSES[config.loss.id];
  if (loss) reasons.push(`loss '${config.loss.id}', ${loss}`);
  if (reasons.length === 0) return null;
  return (
    `the PyTorch project does not implement ${reasons.join(' nor ')}, so it cannot train this run; ` +
    'export model.safetensors instead: its encoder loads in PyTorch with model.load_pretrained'
  );
}

/** Throws pytorchUnsupported's message when the project could not train a run of `config`. */
export function checkPytorchSupport(config: RunConfig): void {
  const unsupported = pytorchUnsupported(config);
  if (unsupported) throw new Error(unsupported);
}

/**
 * The project's files for a model.safetensors written by exportSafetensors (its metadata gives the RunConfig, the
 * preprocessing and the step). `sources` maps every name of PROJECT_SOURCE_FILES to its text. Throws, naming
 * what is wrong, for weights without the export's metadata or a missing source.
 */
export function buildPytorchProject(opts: {
  weights: Uint8Array;
  sources: Readonly<Record<string, string>>;
}): ProjectFile[] {
  const { weights, sources } = opts;
  const missing = PROJECT_SOURCE_FILES.filter((name) => typeof sources[name] !== 'string');
  if (missing.length > 0) throw new Error(`the PyTorch project sources lack ${missing.join(', ')}`);
  const { metadata } = readSafetensors(weights);
  if (metadata.format !== MODEL_FORMAT) {
    throw new Error(
      `the weights are not a model export (metadata.format is ${JSON.stringify(metadata.format)}, expected ` +
        `"${MODEL_FORMAT}"); a checkpoint goes through npm run export-pytorch -- --from checkpoint.safetensors`,
    );
  }
  const config = parseRunConfig(metadataJson(metadata, RUN_CONFIG_KEY));
  checkPytorchSupport(config);
  const preprocessing = metadataJson(metadata, PREPROCESSING_KEY) as PreprocessingMetadata;
  const step = metadata.step ?? '(unknown)';
  const dataset = config.dataset.id;
  const fills: Record<string, string> = {
    TITLE: config.name || `${lossInfo(config.loss.id).name} on ${dataset}`,
    RUN_SUMMARY: runSummary(config, preprocessing, step),
    DATA_HINT: DATA_HINTS[dataset] + (dataset === 'synthetic' ? '' : USER_DATASET_HINT),
    DATA_ARG: dataset === 'synthetic' ? '' : ` --data-dir data/${dataset}`,
    RUN_ID: `${(config.name || config.loss.id).replace(/[^A-Za-z0-9]+/g, '-').toLowerCase()}-${config.seed}`,
  };
  const readme = sources['README.md'].replace(/\{\{([A-Z_]+)\}\}/g, (placeholder, key: string) => {
    if (!(key in fills)) throw new Error(`README.md template: unknown placeholder ${placeholder}`);
    return fills[key];
  });
  const text = (name: string, body: string, mime: string): ProjectFile => ({
    name,
    mime,
    bytes: new TextEncoder().encode(body),
  });
  return [
    text('README.md', readme, 'text/markdown'),
    text('run.json', JSON.stringify(config, null, 2) + '\n', 'application/json'),
    { name: 'model.safetensors', mime: 'application/octet-stream', bytes: weights },
    ...PROJECT_SOURCE_FILES.filter((name) => name.endsWith('.py')).map((name) =>
      text(name, sources[name], 'text/x-python'),
    ),
  ];
}
