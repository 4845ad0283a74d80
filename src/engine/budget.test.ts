import * as tf from '@tensorflow/tfjs';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildNetwork } from '../nn/networks';
import {
  BACKEND_LIMITS,
  checkMemoryBudget,
  GiB,
  largestFittingBatch,
  memoryBudget,
  nominalDataShape,
  webgpuLimits,
} from './budget';

const MiB = 1024 ** 2;
import { parseRunConfig, type RunConfigInput } from './config';
import type { Dataset } from './data/types';
import { Trainer } from './trainer';

const config = (overrides: RunConfigInput) => parseRunConfig(overrides);

describe('memoryBudget', () => {
  it('counts exactly the parameters the network builds (weights and BatchNorm statistics)', () => {
    const cases: RunConfigInput[] = [
      {
        encoder: { type: 'mlp', hidden: [16, 8] },
        projector: { layers: 2, hidden: 12, out: 4, batchNorm: true },
      },
      {
        encoder: { type: 'convnet', channels: [4, 8, 6] },
        projector: { layers: 3, hidden: 10, out: 5, batchNorm: false },
      },
      {
        encoder: { type: 'resnet', widths: [4, 8, 8], blocks: [2, 1, 2] },
        projector: { layers: 1, hidden: 8, out: 3 },
      },
    ];
    for (const overrides of cases) {
      const parsed = config({
        dataset: { id: 'synthetic', synthetic: { size: 8, channels: 3 } },
        ...overrides,
      });
      const network = buildNetwork({
        encoder: parsed.encoder,
        projector: parsed.projector,
        inputShape: [8, 8, 3],
        seed: 1,
      });
      const built = network.allWeights.reduce(
        (sum, w) => sum + w.shape.reduce((a, b) => (a ?? 1) * (b ?? 1), 1)!,
        0,
      );
      const budget = memoryBudget(parsed, 'wasm');
      expect(budget.parameters).toBe(built);
      expect(budget.featureDim).toBe(network.featureDim);
      network.dispose();
    }
  });

  it('lets every example config through on wasm', () => {
    for (const file of readdirSync('examples').filter((f) => f.endsWith('.json'))) {
      const parsed = parseRunConfig(JSON.parse(readFileSync(`examples/${file}`, 'utf8')));
      expect(memoryBudget(parsed, 'wasm').problems, file).toEqual([]);
    }
  });

  it('refuses what cannot fit, naming the sizes and the limit', () => {
    const big = config({
      encoder: { type: 'resnet', widths: [64, 128, 256, 512], blocks: [2, 2, 2, 2] },
      dataset: { id: 'cifar10' },
      batchSize: 1024,
    });
    expect(() => checkMemoryBudget(big, 'wasm')).toThrow(
      /a step needs at least [\d.]+ GiB on the wasm backend \(weights, gradients and optimizer state [\d.]+ MiB; activations of 1024 images x 2 views [\d.]+ GiB, loss similarities [\d.]+ MiB\), more than its 4\.0 GiB \(the wasm heap stops at 4 GiB\)/,
    );
    const huge = config({
      dataset: {
        id: 'synthetic',
        synthetic: { trainCount: 1_000_000, testCount: 1_000_000, size: 256, channels: 3 },
      },
      encoder: { type: 'convnet', channels: [2048] },
      batchSize: 8192,
    });
    const budget = memoryBudget(huge, 'webgpu');
    expect(budget.problems.join('\n')).toMatch(
      /one tensor, the first layer's output for 8192 images x 2 views at 256x256, needs 8192\.0 GiB, more than the webgpu backend's 2\.0 GiB/,
    );
    expect(budget.problems.join('\n')).toMatch(
      /the dataset's pixels \(1000000 \+ 1000000 images of 256x256x3\) need 366\.2 GiB, more than the 4\.0 GiB a run may hold in memory/,
    );
    expect(BACKEND_LIMITS.wasm.totalBytes).toBe(4 * 1024 ** 3);
    expect(nominalDataShape(config({ dataset: { id: 'fashion-mnist' } }))).toEqual({
      imageShape: [28, 28, 1],
      trainCount: 60_000,
      testCount: 10_000,
    });
  });

  it('holds a WebGPU device to its own buffer limits, naming the limit hit and the largest batch that fits', () => {
    const cifarResnet = config({
      encoder: { type: 'resnet', widths: [64, 128, 256, 512], blocks: [2, 2, 2, 2] },
      dataset: { id: 'cifar10' },
      batchSize: 1024,
    });
    const small = webgpuLimits({ maxStorageBufferBindingSize: 128 * MiB, maxBufferSize: 256 * MiB });
    expect(small.tensorBytes).toBe(128 * MiB);
    expect(webgpuLimits({ maxStorageBufferBindingSize: 4 * GiB, maxBufferSize: 1 * GiB }).note).toMatch(
      /maxBufferSize is 1\.0 GiB/,
    );
    // 1024 images x 2 views x 64 channels x 32x32 float32 = 512 MiB in the first layer's output alone
    expect(() => checkMemoryBudget(cifarResnet, 'webgpu', undefined, small)).toThrow(
      /one tensor, the first layer's output for 1024 images x 2 views at 32x32, needs 512\.0 MiB, more than the webgpu backend's 128\.0 MiB for a single tensor \(the device's maxStorageBufferBindingSize is 128\.0 MiB[^)]*\)\n  batchSize 256 would fit/,
    );
    const batch = largestFittingBatch(cifarResnet, 'webgpu', undefined, small)!;
    expect(batch).toBe(256);
    expect(memoryBudget({ ...cifarResnet, batchSize: batch }, 'webgpu', undefined, small).problems).toEqual(
      [],
    );
    expect(
      memoryBudget({ ...cifarResnet, batchSize: batch + 1 }, 'webgpu', undefined, small).problems,
    ).toHaveLength(1);
    // the default limits let the same run through
    expect(checkMemoryBudget(cifarResnet, 'webgpu').problems).toEqual([]);
    // nothing fits when the dataset alone is too large
    const tooMany = config({
      dataset: { id: 'synthetic', synthetic: { trainCount: 1_000_000, testCount: 1_000_000, size: 64 } },
      encoder: { type: 'mlp', hidden: [8] },
      batchSize: 64,
    });
    expect(largestFittingBatch(tooMany, 'webgpu')).toBeNull();
    expect(() => checkMemoryBudget(tooMany, 'webgpu')).toThrow(/no batchSize fits/);
  });

  it('Trainer.create refuses an oversized config before the dataset is loaded', async () => {
    let loads = 0;
    const dataset: Dataset = {
      name: 'never loaded',
      imageShape: [256, 256, 3],
      classes: ['a', 'b'],
      train: async () => {
        loads += 1;
        throw new Error('loaded');
      },
      test: async () => {
        loads += 1;
        throw new Error('loaded');
      },
    };
    const oversized = config({
      dataset: { id: 'synthetic', synthetic: { trainCount: 1_000_000, testCount: 1000, size: 256 } },
      batchSize: 4096,
    });
    const before = tf.memory().numTensors;
    await expect(
      Trainer.create(oversized, { dataset, onEvent: () => undefined, backend: 'wasm' }),
    ).rejects.toThrow(/the run cannot fit in memory:\n {2}- a step needs at least/);
    expect(loads).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  });
});
