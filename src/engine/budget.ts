import type { RunConfig } from './config';

/**
 * Memory a run needs, computed from its config alone (no tfjs, nothing allocated), and the limits of each
 * backend, so that a config that cannot fit is refused with the sizes named before a byte is allocated. The CLI,
 * the trainer (Trainer.create) and the worker all go through `checkMemoryBudget`.
 *
 * Every figure is a lower bound: what the tensors that must exist at once take, with no allowance for the
 * backend's temporaries. Parameters: weights + gradients + optimizer slots (Adam/AdamW two, SGD/LARS one), float32.
 * Activations of a step: every layer output of the forward pass, kept for the backward pass, for batchSize images
 * in every view (large views at the image size, small views at views.smallSize). Contrastive losses also form
 * at least one batchSize x batchSize similarity matrix. Evaluation: the clean, two augmented eval embeddings and
 * the kNN bank, each [count, featureDim + embeddingDim] float32. Dataset: train + test pixels as uint8 in host memory.
 */

export const GiB = 1024 ** 3;

export interface BackendLimits {
  /** Everything the backend's tensors may take together. */
  totalBytes: number;
  /** The largest single tensor. */
  tensorBytes: number;
  /** Why these are the limits, for the error message. */
  note: string;
}

/** Host memory for the dataset's pixels (uint8 typed arrays in the page, worker or process). */
export const DATASET_LIMIT_BYTES = 4 * GiB;

/**
 * Limits per backend. wasm: tfjs-backend-wasm is a 32-bit module whose heap stops at 4 GiB. webgpu: WebGPU buffers
 * stop at the adapter's maxStorageBufferBindingSize (2 GiB on most, often less), and a page cannot ask how much GPU
 * memory there is: 16 GiB is above what any browser lends a page. cpu: plain typed arrays in the host process.
 */
export const BACKEND_LIMITS: Readonly<Record<string, BackendLimits>> = {
  wasm: { totalBytes: 4 * GiB, tensorBytes: 2 * GiB, note: 'the wasm heap stops at 4 GiB' },
  webgpu: {
    totalBytes: 16 * GiB,
    tensorBytes: 2 * GiB,
    note: 'a WebGPU buffer stops at 2 GiB and a page gets at most 16 GiB',
  },
  cpu: {
    totalBytes: 16 * GiB,
    tensorBytes: 2 * GiB,
    note: 'the cpu backend keeps tensors in typed arrays of at most 2 GiB, 16 GiB in all',
  },
};

/** The two limits of a WebGPU device (GPUSupportedLimits) that bound one tensor's buffer. */
export interface WebGPUBufferLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

/**
 * The limits of a real WebGPU device: one tensor is one storage buffer, bound whole, so it stops at the smaller of
 * the device's maxStorageBufferBindingSize and maxBufferSize (tfjs-backend-webgpu asks the adapter for its largest
 * values of both when it creates the device); the note names the limit, for the error message.
 */
export function webgpuLimits(device: WebGPUBufferLimits): BackendLimits {
  const binding = device.maxStorageBufferBindingSize;
  const buffer = device.maxBufferSize;
  const which =
    binding <= buffer
      ? `the device's maxStorageBufferBindingSize is ${formatBytes(binding)}`
      : `the device's maxBufferSize is ${formatBytes(buffer)}`;
  return {
    totalBytes: BACKEND_LIMITS.webgpu.totalBytes,
    tensorBytes: Math.min(binding, buffer),
    note: `${which}; a page gets at most 16 GiB`,
  };
}

/** Losses that form at least one [batch, batch] similarity matrix (and its gradient). */
const PAIRWISE_LOSSES = new Set([
  'ntxent',
  'dcl',
  'dclw',
  'supcon',
  'mv_infonce',
  'mv_dhel',
  'clip',
  'mnr',
  'align_uniform',
]);

/** The data a run sees: the image shape and the split sizes (nominal ones for file datasets before loading). */
export interface DataShape {
  imageShape: readonly [number, number, number];
  trainCount: number;
  testCount: number;
}

/** Image shape and the official split sizes of each dataset id; synthetic from its config. */
export function nominalDataShape(config: RunConfig): DataShape {
  const { id, synthetic } = config.dataset;
  switch (id) {
    case 'synthetic':
      return {
        imageShape: [synthetic.size, synthetic.size, synthetic.channels],
        trainCount: synthetic.trainCount,
        testCount: synthetic.testCount,
      };
    case 'cifar10':
      return { imageShape: [32, 32, 3], trainCount: 50_000, testCount: 10_000 };
    case 'fashion-mnist':
    case 'mnist':
      return { imageShape: [28, 28, 1], trainCount: 60_000, testCount: 10_000 };
  }
}

export interface MemoryBudget {
  backend: string;
  limits: BackendLimits;
  /** Trainable and non-trainable (BatchNorm statistics) parameters of backbone + projector. */
  parameters: number;
  featureDim: number;
  embeddingDim: number;
  /** Weights, gradients and optimizer slots. */
  parameterBytes: number;
  /** Layer outputs of one training step (all views of one batch). */
  activationBytes: number;
  /** Similarity matrices of the loss. */
  lossBytes: number;
  /** Embeddings held during an evaluation. */
  evalBytes: number;
  /** Parameter bytes plus the larger of a step and an evaluation. */
  totalBytes: number;
  /**
   * What a step is likely to take: the backward pass's temporaries double the activations (tfjs-backend-wasm's heap
   * grew by 8.9 MiB an image for resnet-small on 32x32 images in 2 views, against a lower bound of 4.2).
   */
  likelyBytes: number;
  /** The largest single tensor and what it is. */
  largestTensor: { bytes: number; what: string };
  /** Dataset pixels (train + test) in host memory. */
  datasetBytes: number;
  /** One line per limit exceeded (empty when the run fits). */
  problems: string[];
}

/** "1.5 GiB", "37.2 MiB". */
export function formatBytes(bytes: number): string {
  if (bytes >= GiB) return `${(bytes / GiB).toFixed(1)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${Math.ceil(bytes / 1024)} KiB`;
}

const ceilHalf = (n: number) => Math.ceil(n / 2);

interface EncoderShape {
  /** Parameters (weights and BatchNorm statistics). */
  parameters: number;
  /** Activation floats of one image at `height` x `width`. */
  activations: (height: number, width: number) => number;
  /** Floats of the first layer's output for one image (the largest single activation). */
  firstLayer: (height: number, width: number) => number;
  featureDim: number;
}

function encoderShape(
  encoder: RunConfig['encoder'],
  [h0, w0, channels]: DataShape['imageShape'],
): EncoderShape {
  // BatchNorm: gamma, beta, moving mean, moving variance per channel
  const bn = (width: number) => 4 * width;
  switch (encoder.type) {
    case 'mlp': {
      let inputs = h0 * w0 * channels;
      let parameters = 0;
      for (const width of encoder.hidden) {
        parameters += inputs * width + bn(width);
        inputs = width;
      }
      // per layer: linear, BatchNorm and ReLU outputs
      const perImage = h0 * w0 * channels + 3 * encoder.hidden.reduce((s, w) => s + w, 0);
      return {
        parameters,
        activations: () => perImage,
        firstLayer: () => encoder.hidden[0],
        featureDim: encoder.hidden.at(-1)!,
      };
    }
    case 'convnet': {
      let inputs = channels;
      let parameters = 0;
      for (const width of encoder.channels) {
        parameters += 9 * inputs * width + bn(width);
        inputs = width;
      }
      return {
        parameters,
        activations: (height, width) => {
          let floats = height * width * channels;
          let [h, w] = [height, width];
          for (const c of encoder.channels) {
            // conv, BatchNorm and ReLU at full size, then the 2x2 max-pool
            floats += 3 * h * w * c;
            [h, w] = [ceilHalf(h), ceilHalf(w)];
            floats += h * w * c;
          }
          return floats;
        },
        firstLayer: (height, width) => height * width * encoder.channels[0],
        featureDim: encoder.channels.at(-1)!,
      };
    }
    case 'resnet': {
      const { widths, blocks } = encoder;
      let parameters = 9 * channels * widths[0] + bn(widths[0]);
      let inputs = widths[0];
      widths.forEach((width, s) => {
        for (let b = 0; b < blocks[s]; b++) {
          const stride = s > 0 && b === 0 ? 2 : 1;
          parameters += 9 * inputs * width + bn(width) + 9 * width * width + bn(width);
          if (stride !== 1 || inputs !== width) parameters += inputs * width + bn(width);
          inputs = width;
        }
      });
      return {
        parameters,
        activations: (height, width) => {
          // stem: conv, BatchNorm, ReLU
          let floats = height * width * channels + 3 * height * width * widths[0];
          let [h, w] = [height, width];
          let inputs = widths[0];
          widths.forEach((c, s) => {
            for (let b = 0; b < blocks[s]; b++) {
              const stride = s > 0 && b === 0 ? 2 : 1;
              if (stride === 2) [h, w] = [ceilHalf(h), ceilHalf(w)];
              // conv1, bn1, relu1, conv2, bn2, add, relu2 (+ the projection shortcut's conv and BatchNorm)
              floats += (stride !== 1 || inputs !== c ? 9 : 7) * h * w * c;
              inputs = c;
            }
          });
          return floats;
        },
        firstLayer: (height, width) => height * width * widths[0],
        featureDim: widths.at(-1)!,
      };
    }
  }
}

function projectorShape(projector: RunConfig['projector'], featureDim: number) {
  let parameters = 0;
  let activations = 0;
  let inputs = featureDim;
  for (let k = 0; k < projector.layers; k++) {
    const last = k === projector.layers - 1;
    const units = last ? projector.out : projector.hidden;
    parameters += inputs * units + (last || !projector.batchNorm ? units : 0);
    if (!last && projector.batchNorm) parameters += 4 * units;
    activations += last ? units : 3 * units;
    inputs = units;
  }
  return { parameters, activations };
}

/** The memory `config` needs on `backend` (a lower bound; see the module comment), and the limits it exceeds. */
export function memoryBudget(
  config: RunConfig,
  backend: string,
  data: DataShape = nominalDataShape(config),
  limits: BackendLimits = BACKEND_LIMITS[backend] ?? BACKEND_LIMITS.cpu,
): MemoryBudget {
  const [height, width, channels] = data.imageShape;
  const encoder = encoderShape(config.encoder, data.imageShape);
  const projector = projectorShape(config.projector, encoder.featureDim);
  const parameters = encoder.parameters + projector.parameters;
  const slots = config.optimizer.type === 'adam' || config.optimizer.type === 'adamw' ? 2 : 1;
  const parameterBytes = parameters * 4 * (2 + slots);

  const batch = config.batchSize;
  const { large, small, smallSize } = config.views;
  const smallSide = Math.min(smallSize, height);
  const perImage =
    large * (encoder.activations(height, width) + projector.activations) +
    small * (encoder.activations(smallSide, smallSide) + projector.activations);
  const activationBytes = batch * perImage * 4;
  const lossBytes = PAIRWISE_LOSSES.has(config.loss.id) ? 2 * batch * batch * 4 : 0;

  const trainCount =
    config.dataset.trainLimit > 0 ? Math.min(config.dataset.trainLimit, data.trainCount) : data.trainCount;
  const evalCount = Math.min(config.eval.size, data.testCount);
  const bankCount = Math.min(config.eval.bankSize, trainCount);
  const rowBytes = (encoder.featureDim + config.projector.out) * 4;
  const evalBytes = (3 * evalCount + bankCount) * rowBytes;
  const totalBytes = parameterBytes + Math.max(activationBytes + lossBytes, evalBytes);
  const likelyBytes = parameterBytes + Math.max(2 * activationBytes + lossBytes, evalBytes);
  const datasetBytes = (data.trainCount + data.testCount) * height * width * channels;

  const candidates = [
    {
      bytes: batch * large * encoder.firstLayer(height, width) * 4,
      what: `the first layer's output for ${batch} images x ${large} views at ${height}x${width}`,
    },
    {
      bytes: batch * large * height * width * channels * 4,
      what: `the ${batch}-image batch of ${large} views at ${height}x${width}x${channels}`,
    },
    { bytes: bankCount * encoder.featureDim * 4, what: `the ${bankCount}-image kNN bank of features` },
    { bytes: lossBytes / 2, what: `the loss's ${batch}x${batch} similarity matrix` },
  ];
  const largestTensor = candidates.reduce((a, b) => (b.bytes > a.bytes ? b : a));

  const problems: string[] = [];
  if (totalBytes > limits.totalBytes) {
    const parts = [`weights, gradients and optimizer state ${formatBytes(parameterBytes)}`];
    if (activationBytes + lossBytes >= evalBytes) {
      parts.push(
        `activations of ${batch} images x ${large + small} views ${formatBytes(activationBytes)}` +
          (lossBytes > 0 ? `, loss similarities ${formatBytes(lossBytes)}` : ''),
      );
    } else {
      parts.push(`evaluation embeddings (eval.size, eval.bankSize) ${formatBytes(evalBytes)}`);
    }
    problems.push(
      `a step needs at least ${formatBytes(totalBytes)} on the ${backend} backend (${parts.join('; ')}), ` +
        `more than its ${formatBytes(limits.totalBytes)} (${limits.note}): lower batchSize, the encoder widths, the image size or the views`,
    );
  }
  if (largestTensor.bytes > limits.tensorBytes) {
    problems.push(
      `one tensor, ${largestTensor.what}, needs ${formatBytes(largestTensor.bytes)}, more than the ${backend} backend's ` +
        `${formatBytes(limits.tensorBytes)} for a single tensor (${limits.note})`,
    );
  }
  if (datasetBytes > DATASET_LIMIT_BYTES) {
    problems.push(
      `the dataset's pixels (${data.trainCount} + ${data.testCount} images of ${height}x${width}x${channels}) need ` +
        `${formatBytes(datasetBytes)}, more than the ${formatBytes(DATASET_LIMIT_BYTES)} a run may hold in memory: lower the image count or size`,
    );
  }
  return {
    backend,
    limits,
    parameters,
    featureDim: encoder.featureDim,
    embeddingDim: config.projector.out,
    parameterBytes,
    activationBytes,
    lossBytes,
    evalBytes,
    totalBytes,
    likelyBytes,
    largestTensor,
    datasetBytes,
    problems,
  };
}

/**
 * The largest batchSize (>= 2) below config.batchSize at which `config` fits `limits`, or null when none does
 * (the model, the evaluation or the dataset alone is too large). Memory grows with the batch, so a bisection finds it.
 */
export function largestFittingBatch(
  config: RunConfig,
  backend: string,
  data: DataShape = nominalDataShape(config),
  limits: BackendLimits = BACKEND_LIMITS[backend] ?? BACKEND_LIMITS.cpu,
): number | null {
  const fits = (batchSize: number) =>
    memoryBudget({ ...config, batchSize }, backend, data, limits).problems.length === 0;
  if (config.batchSize <= 2 || !fits(2)) return null;
  let [lo, hi] = [2, config.batchSize - 1]; // fits(lo) holds
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Throws, naming every size and limit exceeded and the largest batchSize that would fit, when `config` cannot fit
 * `backend` (with `limits`, e.g. webgpuLimits of the device in use); returns the budget otherwise.
 */
export function checkMemoryBudget(
  config: RunConfig,
  backend: string,
  data?: DataShape,
  limits?: BackendLimits,
): MemoryBudget {
  const budget = memoryBudget(config, backend, data, limits);
  if (budget.problems.length > 0) {
    const batch = largestFittingBatch(config, backend, data, limits);
    const hint =
      batch === null
        ? 'no batchSize fits: make the encoder, the images, the evaluation (eval.size, eval.bankSize) or the dataset smaller'
        : `batchSize ${batch} would fit (everything else as it is)`;
    throw new Error(
      `the run cannot fit in memory:\n${budget.problems.map((p) => `  - ${p}`).join('\n')}\n  ${hint}`,
    );
  }
  return budget;
}
