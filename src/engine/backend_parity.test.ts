import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOSS_IDS, type LossId } from '../losses/catalog';
import type { MetricSet } from '../metrics/index';
import { initBackend } from './backend';
import type { RunConfigInput } from './config';
import { useNodeWebGPU } from '../kernels/webgpu/testing';
import { tinyRun } from './trainer_testing';

// Every backend must train what the cpu backend (the reference the unit tests run on) trains: the same seed
// gives the same losses and metrics, for every loss, through the Trainer (augmentation, network, loss, gradients,
// optimizer, eval). wasm is Node's default and the browser's fall-back; webgpu (Dawn, with the project kernels)
// is the playground's. This caught tfjs-backend-wasm's OneHot writing int32 bits into float32 masks (the losses'
// self-mask did nothing) and its missing UnsortedSegmentSum (dcl, dclw, hydra could not train): kernels/one_hot/,
// kernels/unsorted_segment_sum/; and tfjs-backend-cpu's ResizeNearestNeighborGrad reading every image after the
// first at the wrong offset (cmim's decoder trained differently on cpu): nn/decoder.ts upsamples by tiling.

/** The steps tinyRun trains (64 images, batch 16, half an epoch). */
const STEPS = 2;

/** What an objective needs beyond tinyRun's defaults: a regression target (supremix), 2 stages in 2 steps (mcl)... */
const NEEDS: Partial<Record<LossId, RunConfigInput>> = {
  supremix: {
    dataset: {
      id: 'synthetic',
      target: 'size',
      synthetic: { classes: 4, trainCount: 64, testCount: 32, size: 8, channels: 3 },
    },
  },
  mcl: { loss: { id: 'mcl', params: { stages: 2, clusters: 4 } } },
  // sepclr trains within its protocol; cmim on one clean view
  // (sepclr's default weights of 1000 and cmim's decoder diverge at lr 0.05: smaller ones here)
  sepclr: {
    protocol: { type: 'contrastive-analysis' },
    loss: { id: 'sepclr', params: { betaSalient: 1, betaReg: 1, lambdaJem: 1 } },
  },
  cmim: { views: { large: 1 }, optimizer: { type: 'sgd', lr: 1e-4 } },
};

async function run(backend: 'cpu' | 'wasm' | 'webgpu', loss: LossId) {
  const { losses, evals } = await tinyRun(backend, {
    ...NEEDS[loss],
    loss: { id: loss, ...NEEDS[loss]?.loss },
    // SGD: an update proportional to the gradient, so float rounding stays rounding (Adam's first steps are
    // ~lr * sign(g), which turns a 1e-9 difference in a near-zero gradient into a full lr-sized one)
    optimizer: { type: 'sgd', lr: 0.05, ...NEEDS[loss]?.optimizer },
    eval: { every: STEPS, size: 32, bankSize: 64, knnK: 10, pca: true, linearProbe: true },
    seed: 9,
  });
  expect(losses).toHaveLength(STEPS);
  expect(evals.length).toBeGreaterThanOrEqual(1);
  return { losses, metrics: evals[evals.length - 1] };
}

function expectMetricsClose(actual: MetricSet, expected: MetricSet, tol: number): void {
  for (const key of ['alignment', 'uniformity', 'tolerance', 'effectiveRank', 'knnTop1'] as const) {
    expect(actual[key], key).toBeCloseTo(expected[key], tol);
  }
  expect(actual.spectrum).toHaveLength(expected.spectrum.length);
  actual.spectrum.forEach((value, i) =>
    expect(value, `spectrum[${i}]`).toBeCloseTo(expected.spectrum[i], tol),
  );
}

const webgpuUnavailable = await useNodeWebGPU();
if (webgpuUnavailable) console.warn(`skipping the webgpu parity tests: ${webgpuUnavailable}`);

beforeAll(async () => {
  expect((await initBackend({ preferred: 'wasm', environment: 'node' })).active).toBe('wasm');
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

describe.each(['wasm', 'webgpu'] as const)('%s vs cpu: same seed, same training', (backend) => {
  it.skipIf(backend === 'webgpu' && webgpuUnavailable !== null).each([...LOSS_IDS])(
    '%s: the same step losses and eval metrics',
    async (loss) => {
      const cpu = await run('cpu', loss);
      const other = await run(backend, loss);
      // step 1 is the loss at the initial weights: only float rounding may differ
      expect(Math.abs(other.losses[0] - cpu.losses[0])).toBeLessThan(
        1e-4 * Math.max(1, Math.abs(cpu.losses[0])),
      );
      other.losses.forEach((value, i) =>
        expect(
          Math.abs(value - cpu.losses[i]),
          `loss at step ${i + 1}: ${value} against ${cpu.losses[i]}`,
        ).toBeLessThan(5e-4),
      );
      expectMetricsClose(other.metrics.h, cpu.metrics.h, 3);
      expectMetricsClose(other.metrics.z, cpu.metrics.z, 3);
      expect(cpu.metrics.linearProbeTop1).not.toBeNull();
      expect(other.metrics.linearProbeTop1).toBeCloseTo(cpu.metrics.linearProbeTop1!, 2);
      // the 2-D PCA up to the sign of each axis
      const [a, b] = [other.metrics.pca!.z, cpu.metrics.pca!.z];
      expect(a).toHaveLength(b.length);
      for (const axis of [0, 1]) {
        const sign =
          Math.sign(a.reduce((sum, value, i) => (i % 2 === axis ? sum + value * b[i] : sum), 0)) || 1;
        a.forEach((value, i) => {
          if (i % 2 === axis) expect(value * sign, `pca[${i}]`).toBeCloseTo(b[i], 2);
        });
      }
    },
  );
});
