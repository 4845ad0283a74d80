import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultRunConfig, type RunConfigInput } from '../src/engine/config';
import { syntheticDataset } from '../src/engine/data/index';
import type { EngineEvent } from '../src/engine/events';
import { Trainer } from '../src/engine/trainer';
import { installedKernels } from '../src/kernels/install';
import { useNodeWebGPU } from '../src/kernels/webgpu/testing';

const NO_AUGMENTATION = { crop: null, flip: 0, jitter: null, grayscale: 0 };
/** Steps of the WebGPU test, as many as the cpu test's; on SwiftShader (shaders on the CPU) this takes minutes. */
const WEBGPU_STEPS = 500;

/** Trains `steps` steps after `warmup` and samples tf.memory() every `every` steps. */
async function memoryOverSteps(overrides: RunConfigInput, warmup: number, steps: number, every: number) {
  const config = defaultRunConfig({
    dataset: { id: 'synthetic', synthetic: { size: 8, channels: 3, trainCount: 64, testCount: 16 } },
    projector: { layers: 2, hidden: 8, out: 4, batchNorm: true },
    loss: { id: 'ntxent', params: { tau: 0.5 } },
    batchSize: 8,
    epochs: 100, // 8 steps per epoch: 800 steps, more than any test runs, so no end-of-run work starts
    eval: { every: 0, pca: false },
    checkpointEvery: 0,
    ...overrides,
  });
  const errors: string[] = [];
  const losses: number[] = [];
  const onEvent = (event: EngineEvent) => {
    if (event.type === 'error') errors.push(event.message);
    if (event.type === 'step') losses.push(event.loss);
  };
  const trainer = await Trainer.create(config, {
    dataset: syntheticDataset({ ...config.dataset.synthetic, seed: 1 }),
    onEvent,
  });
  try {
    // the first steps create the optimizer's moment variables; measure from a warm state
    expect(await trainer.run({ untilStep: warmup })).toBe('yielded');
    const baseline = tf.memory();
    const baselineGpu = gpuBytes();
    const samples: Array<{ step: number; numTensors: number; numBytes: number }> = [];
    const gpu: Array<{ step: number; used: number; allocated: number }> = [];
    for (let step = warmup + every; step <= warmup + steps; step += every) {
      expect(await trainer.run({ untilStep: step })).toBe('yielded');
      const { numTensors, numBytes } = tf.memory();
      samples.push({ step, numTensors, numBytes });
      const bytes = gpuBytes();
      if (bytes) gpu.push({ step, ...bytes });
    }
    expect(errors).toEqual([]);
    expect(losses).toHaveLength(warmup + steps);
    expect(losses.every(Number.isFinite)).toBe(true);
    return { baseline, samples, baselineGpu, gpu };
  } finally {
    trainer.dispose();
  }
}

/** WebGPU buffer bytes in use by tensors and allocated in the buffer pool (null on CPU backends). */
function gpuBytes(): { used: number; allocated: number } | null {
  const memory = tf.memory() as { numBytesInGPU?: number; numBytesAllocatedInGPU?: number };
  if (memory.numBytesInGPU === undefined || memory.numBytesAllocatedInGPU === undefined) return null;
  return { used: memory.numBytesInGPU, allocated: memory.numBytesAllocatedInGPU };
}

// The Trainer's own step path on the cpu backend: a tensor a step forgets to dispose shows up as growth
// proportional to the number of steps.
describe('training memory', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('500 steps at a fixed batch on a tiny model do not grow tf.memory().numTensors or numBytes', async () => {
    // augmentations off: they cost ~8x the rest of this tiny step; the next test covers them
    const { baseline, samples } = await memoryOverSteps(
      { encoder: { type: 'mlp', hidden: [8] }, augment: NO_AUGMENTATION },
      10,
      500,
      100,
    );
    expect(samples).toHaveLength(5);
    for (const sample of samples) {
      expect(sample).toEqual({
        step: sample.step,
        numTensors: baseline.numTensors,
        numBytes: baseline.numBytes,
      });
    }
  });

  it('steps with the default augmentations and a conv encoder do not grow memory either', async () => {
    const { baseline, samples } = await memoryOverSteps(
      { encoder: { type: 'convnet', channels: [4] } },
      5,
      30,
      10,
    );
    for (const sample of samples) {
      expect(sample).toEqual({
        step: sample.step,
        numTensors: baseline.numTensors,
        numBytes: baseline.numBytes,
      });
    }
  });
});

// The same on WebGPU (Dawn; SwiftShader without a GPU) with the project kernels initBackend registers (tiled conv
// gradients, fused NT-Xent, reductions, BatchNorm gradient): neither tensors nor the GPU buffer pool may grow.
const webgpuUnavailable = await useNodeWebGPU();
if (webgpuUnavailable) console.warn(`skipping the WebGPU memory test: ${webgpuUnavailable}`);

describe.skipIf(webgpuUnavailable !== null)('training memory on webgpu', () => {
  beforeAll(async () => {
    await tf.setBackend('webgpu');
  });

  it(
    '500 steps of a conv encoder with the project kernels grow neither tensors nor GPU buffers',
    { timeout: 900_000 },
    async () => {
      expect(tf.getBackend()).toBe('webgpu');
      expect(installedKernels('webgpu')).toContain(tf.Conv2DBackpropFilter);
      const { baseline, samples, baselineGpu, gpu } = await memoryOverSteps(
        { encoder: { type: 'convnet', channels: [4] }, augment: NO_AUGMENTATION },
        10,
        WEBGPU_STEPS,
        WEBGPU_STEPS / 5,
      );
      expect(samples).toHaveLength(5);
      for (const sample of samples) {
        expect(sample).toEqual({
          step: sample.step,
          numTensors: baseline.numTensors,
          numBytes: baseline.numBytes,
        });
      }
      expect(baselineGpu).not.toBeNull();
      expect(gpu).toHaveLength(5);
      for (const sample of gpu) {
        // tensors hold the same bytes; the pool reuses its buffers instead of allocating new ones
        expect(sample).toEqual({
          step: sample.step,
          used: baselineGpu!.used,
          allocated: baselineGpu!.allocated,
        });
      }
    },
  );
});
