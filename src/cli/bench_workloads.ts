import * as tf from '@tensorflow/tfjs';
import { defaultRunConfig, type RunConfig } from '../engine/config';
import { syntheticDataset } from '../engine/data/index';
import { ENCODER_PRESETS } from '../nn/networks';
import type { EngineEvent } from '../engine/events';
import { Trainer } from '../engine/trainer';
import { createLoss } from '../methods/registry';
import { evaluateEmbeddings } from '../metrics/index';

/**
 * The benchmark workloads, shared by the Node CLI (src/cli/bench.ts) and the Chromium page
 * (bench/browser/main.ts): tfjs and the engine only, no Node or DOM APIs. The active tfjs backend is
 * whatever the caller set up.
 *
 *   W1  train step, CIFAR ResNet-18 (3x3 stem, no max-pool), batch 256 x 2 views 32x32, NT-Xent, AdamW
 *   W2  train step, the playground default 'resnet-small', batch 256 x 2 views 32x32, NT-Xent, AdamW
 *   W3  NT-Xent forward + backward alone, Z = [512, 128] (2 views x 256)
 *   W4  every eval metric (alignment, uniformity, tolerance, spectrum, effective rank, kNN; h and z) on
 *       2,048 x 128 embeddings with a 2,048-row kNN bank
 *
 * A train step is the Trainer's own step (trainer.run({ untilStep })): batch upload, augmentation, forward
 * of both views, loss, backward, optimizer, and the loss readback that ends every step.
 */

export const WORKLOAD_IDS = ['W1', 'W2', 'W3', 'W4'] as const;
export type WorkloadId = (typeof WORKLOAD_IDS)[number];

export interface WorkloadSize {
  /** Instances per iteration: the batch (W1-W3) or the number of embeddings (W4). */
  batch: number;
  warmup: number;
  repeats: number;
  /** Iterations per timed repeat. */
  steps: number;
}

export const WORKLOADS: Record<
  WorkloadId,
  { description: string; unit: string; full: WorkloadSize; quick: WorkloadSize }
> = {
  W1: {
    description: 'train step, CIFAR ResNet-18, 2 views 32x32, NT-Xent, AdamW',
    unit: 'images/s',
    full: { batch: 256, warmup: 1, repeats: 3, steps: 2 },
    quick: { batch: 2, warmup: 1, repeats: 2, steps: 1 },
  },
  W2: {
    description: "train step, 'resnet-small' (playground default), 2 views 32x32, NT-Xent, AdamW",
    unit: 'images/s',
    full: { batch: 256, warmup: 2, repeats: 3, steps: 3 },
    quick: { batch: 4, warmup: 1, repeats: 2, steps: 1 },
  },
  W3: {
    description: 'NT-Xent forward + backward alone, Z = [2 x batch, 128]',
    unit: 'instances/s',
    full: { batch: 256, warmup: 3, repeats: 5, steps: 10 },
    quick: { batch: 32, warmup: 1, repeats: 2, steps: 2 },
  },
  W4: {
    description: 'all eval metrics on batch x 128 embeddings (h and z), kNN bank of batch rows',
    unit: 'embeddings/s',
    full: { batch: 2048, warmup: 1, repeats: 3, steps: 1 },
    quick: { batch: 256, warmup: 1, repeats: 2, steps: 1 },
  },
};

/** Whether the project's kernels or gradients change anything in this workload on this backend. */
export function projectCodeRuns(backend: string, workload: WorkloadId): boolean {
  // W1/W2 train convnets with BatchNorm; W3 is the fused NT-Xent and W4 the kNN's TopK (and reductions), on
  // webgpu only
  return (
    workload === 'W1' ||
    workload === 'W2' ||
    ((workload === 'W3' || workload === 'W4') && backend === 'webgpu')
  );
}

export interface WorkloadResult {
  workload: WorkloadId;
  description: string;
  backend: string;
  /**
   * 'stock': tfjs' own kernels and gradients; 'project': with the project's kernels and gradients
   * (installKernels, kernels/install.ts); 'n/a': nothing of the project's is involved. (wasm always runs the
   * project's Conv2DBackpropFilter: tfjs-backend-wasm has none.)
   */
  kernels: 'stock' | 'project' | 'n/a';
  batch: number;
  unit: string;
  /** Median over the timed repeats of batch · steps / seconds. */
  throughput: number;
  /** Median milliseconds per iteration (train step, loss pass or evaluation). */
  msPerIteration: number;
  /** Every timed repeat's milliseconds per iteration. */
  repeatsMs: number[];
  /**
   * Median process CPU milliseconds per iteration (all threads), when the caller passed a cpuClock: on a
   * shared machine wall time includes waiting for the CPU, CPU time does not.
   */
  cpuMsPerIteration: number | null;
  /** Peak tf.memory().numBytes during one profiled iteration (tensor bytes, all backends). */
  peakBytes: number;
  /** Largest GPU allocation the webgpu backend reported (its buffer pool included); null elsewhere. */
  gpuBytes: number | null;
  /** Change in tf.memory().numTensors over the timed repeats: 0 unless something leaks. */
  tensorGrowth: number;
  /** Kernel time by kernel name over the profiled iteration, largest first (only with profile: true). */
  kernelMs?: Array<{ kernel: string; ms: number; calls: number }>;
  /** The slowest single kernel calls of the profiled iteration, with their input shapes (only with profile). */
  slowestCalls?: Array<{ kernel: string; ms: number; inputShapes: number[][] }>;
}

export interface RunWorkloadOptions {
  quick?: boolean;
  /** Overrides of the workload's size. */
  size?: Partial<WorkloadSize>;
  kernels?: WorkloadResult['kernels'];
  /** Also report the kernel-time breakdown of the profiled iteration. */
  profile?: boolean;
  /** Process CPU time in milliseconds (Node: process.cpuUsage); the browser has none. */
  cpuClock?: () => number;
  /** Called after every iteration with its phase and milliseconds (slow devices: shows it is alive). */
  onIteration?: (phase: 'warm-up' | 'timed' | 'profiled', ms: number) => void;
}

/** Runs one workload on the active backend and returns its timings. */
export async function runWorkload(id: WorkloadId, options: RunWorkloadOptions = {}): Promise<WorkloadResult> {
  const spec = WORKLOADS[id];
  const size = { ...(options.quick ? spec.quick : spec.full), ...options.size };
  const prepared = await prepare(id, size.batch);
  const iteration = {
    run: async (phase: 'warm-up' | 'timed' | 'profiled') => {
      const started = performance.now();
      await prepared.run();
      options.onIteration?.(phase, performance.now() - started);
    },
    dispose: () => prepared.dispose(),
  };
  try {
    for (let i = 0; i < size.warmup; i++) await iteration.run('warm-up');
    const tensorsBefore = tf.memory().numTensors;
    const repeatsMs: number[] = [];
    const repeatsCpuMs: number[] = [];
    let gpuBytes: number | null = null;
    for (let r = 0; r < size.repeats; r++) {
      const started = performance.now();
      const cpuStarted = options.cpuClock?.() ?? 0;
      for (let s = 0; s < size.steps; s++) await iteration.run('timed');
      repeatsMs.push((performance.now() - started) / size.steps);
      if (options.cpuClock) repeatsCpuMs.push((options.cpuClock() - cpuStarted) / size.steps);
      gpuBytes = maxOrNull(gpuBytes, gpuAllocatedBytes());
    }
    const tensorGrowth = tf.memory().numTensors - tensorsBefore;
    const profiled = await tf.profile(() => iteration.run('profiled'));
    gpuBytes = maxOrNull(gpuBytes, gpuAllocatedBytes());
    const msPerIteration = median(repeatsMs);
    return {
      workload: id,
      description: spec.description,
      backend: tf.getBackend(),
      kernels: options.kernels ?? 'n/a',
      batch: size.batch,
      unit: spec.unit,
      throughput: (size.batch * 1000) / msPerIteration,
      msPerIteration,
      repeatsMs,
      cpuMsPerIteration: options.cpuClock ? median(repeatsCpuMs) : null,
      peakBytes: profiled.peakBytes,
      gpuBytes,
      tensorGrowth,
      kernelMs: options.profile ? await kernelBreakdown(profiled) : undefined,
      slowestCalls: options.profile ? await slowestCalls(profiled, 10) : undefined,
    };
  } finally {
    iteration.dispose();
  }
}

interface Iteration {
  run(): Promise<void>;
  dispose(): void;
}

function prepare(id: WorkloadId, batch: number): Promise<Iteration> {
  switch (id) {
    case 'W1':
      return trainStepIteration('resnet18', batch);
    case 'W2':
      return trainStepIteration('resnet-small', batch);
    case 'W3':
      return Promise.resolve(ntxentIteration(batch));
    case 'W4':
      return Promise.resolve(evalMetricsIteration(batch));
  }
}

/** The RunConfig of the train-step workloads: synthetic 32x32 RGB images, one batch per "epoch", no eval. */
export function benchRunConfig(preset: string, batch: number): RunConfig {
  const encoder = ENCODER_PRESETS[preset];
  if (!encoder)
    throw new Error(
      `unknown encoder preset '${preset}'; use one of ${Object.keys(ENCODER_PRESETS).join(', ')}`,
    );
  return defaultRunConfig({
    name: `bench ${preset}`,
    dataset: { id: 'synthetic', synthetic: { size: 32, channels: 3, trainCount: batch, testCount: 16 } },
    encoder,
    loss: { id: 'ntxent', params: { tau: 0.5 } },
    optimizer: { type: 'adamw' },
    batchSize: batch,
    // far more steps than any benchmark runs, so no end-of-run evaluation or checkpoint happens
    epochs: 10_000,
    eval: { every: 0, pca: false },
    checkpointEvery: 0,
  });
}

async function trainStepIteration(preset: string, batch: number): Promise<Iteration> {
  const config = benchRunConfig(preset, batch);
  const synthetic = config.dataset.synthetic;
  const dataset = syntheticDataset({ ...synthetic, seed: config.seed });
  let failure: string | null = null;
  const onEvent = (event: EngineEvent) => {
    if (event.type === 'error') failure = event.message;
  };
  const trainer = await Trainer.create(config, { dataset, onEvent, backend: tf.getBackend() });
  let step = 0;
  return {
    async run() {
      step += 1;
      const outcome = await trainer.run({ untilStep: step });
      if (outcome !== 'yielded')
        throw new Error(`train step ${step} ended with '${outcome}'${failure ? `: ${failure}` : ''}`);
    },
    dispose: () => trainer.dispose(),
  };
}

function ntxentIteration(batch: number): Iteration {
  const loss = createLoss('ntxent', { tau: 0.5 });
  const a = tf.randomNormal([batch, 128], 0, 1, 'float32', 1) as tf.Tensor2D;
  const b = tf.randomNormal([batch, 128], 0, 1, 'float32', 2) as tf.Tensor2D;
  const lossOfViews = (x: tf.Tensor, y: tf.Tensor) =>
    loss.compute({ views: [x as tf.Tensor2D, y as tf.Tensor2D] });
  return {
    async run() {
      const { value, grads } = tf.valueAndGrads(lossOfViews)([a, b]);
      // reading the gradients (not just the loss) waits for the backward pass to finish on the device
      await Promise.all([value.data(), ...grads.map((g) => g.data())]);
      tf.dispose([value, ...grads]);
    },
    dispose: () => {
      tf.dispose([a, b]);
      loss.dispose();
    },
  };
}

function evalMetricsIteration(rows: number): Iteration {
  const dims = 128;
  const classes = 10;
  let seed = 100;
  const embedding = () => ({
    h: tf.randomNormal([rows, dims], 0, 1, 'float32', seed++) as tf.Tensor2D,
    z: tf.randomNormal([rows, dims], 0, 1, 'float32', seed++) as tf.Tensor2D,
  });
  const labels = () => Int32Array.from({ length: rows }, (_, i) => (i * 7919) % classes);
  const input = {
    clean: embedding(),
    viewA: embedding(),
    viewB: embedding(),
    evalLabels: labels(),
    bank: { ...embedding(), labels: labels() },
  };
  return {
    async run() {
      await evaluateEmbeddings(input, { numClasses: classes });
    },
    dispose: () =>
      tf.dispose([
        input.clean.h,
        input.clean.z,
        input.viewA.h,
        input.viewA.z,
        input.viewB.h,
        input.viewB.z,
        input.bank.h,
        input.bank.z,
      ]),
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function maxOrNull(current: number | null, value: number | null): number | null {
  if (value === null) return current;
  return current === null ? value : Math.max(current, value);
}

/** The webgpu backend's allocated GPU bytes (buffers in use plus its reuse pool), when it reports them. */
function gpuAllocatedBytes(): number | null {
  const memory = tf.memory() as tf.MemoryInfo & { numBytesAllocatedInGPU?: number };
  return typeof memory.numBytesAllocatedInGPU === 'number' ? memory.numBytesAllocatedInGPU : null;
}

async function slowestCalls(
  profile: Awaited<ReturnType<typeof tf.profile>>,
  count: number,
): Promise<Array<{ kernel: string; ms: number; inputShapes: number[][] }>> {
  const calls: Array<{ kernel: string; ms: number; inputShapes: number[][] }> = [];
  for (const kernel of profile.kernels) {
    if (kernel.name.endsWith('__op')) continue;
    const time = await kernel.kernelTimeMs;
    calls.push({
      kernel: kernel.name,
      ms: typeof time === 'number' ? time : 0,
      inputShapes: kernel.inputShapes.map((shape) => shape ?? []),
    });
  }
  return calls.sort((a, b) => b.ms - a.ms).slice(0, count);
}

async function kernelBreakdown(
  profile: Awaited<ReturnType<typeof tf.profile>>,
): Promise<Array<{ kernel: string; ms: number; calls: number }>> {
  const byName = new Map<string, { ms: number; calls: number }>();
  for (const kernel of profile.kernels) {
    // '<name>__op' entries are custom ops (customGrad) whose time already includes the kernels they ran
    if (kernel.name.endsWith('__op')) continue;
    const time = await kernel.kernelTimeMs;
    const ms = typeof time === 'number' ? time : 0;
    const entry = byName.get(kernel.name) ?? { ms: 0, calls: 0 };
    entry.ms += ms;
    entry.calls += 1;
    byName.set(kernel.name, entry);
  }
  return [...byName.entries()].map(([kernel, v]) => ({ kernel, ...v })).sort((a, b) => b.ms - a.ms);
}
