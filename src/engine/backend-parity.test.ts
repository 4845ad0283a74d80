import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOSS_IDS } from '../losses/index';
import type { MetricSet } from '../metrics/index';
import { initBackend } from './backend';
import { useNodeWebGPU } from './kernels/webgpu/testing';
import { parseRunConfig } from './config';
import { openDataset } from './data/index';
import type { EngineEvent, EvalEvent, StepEvent } from './events';
import { Trainer } from './trainer';

// Every backend must train what the cpu backend (the reference the unit tests run on) trains: the same seed
// gives the same losses and metrics, for every loss, through the Trainer (augmentation, network, loss, gradients,
// optimizer, eval). wasm is Node's default and the browser's fall-back; webgpu (Dawn, with the project kernels)
// is the playground's. This caught tfjs-backend-wasm's OneHot writing int32 bits into float32 masks (the losses'
// self-mask did nothing) and its missing UnsortedSegmentSum (dcl, dclw, hydra could not train): kernels/one_hot.ts.

const STEPS = 2;

async function run(backend: 'cpu' | 'wasm' | 'webgpu', loss: string) {
  await tf.setBackend(backend);
  const config = parseRunConfig({
    dataset: { id: 'synthetic', synthetic: { classes: 4, trainCount: 64, testCount: 32, size: 8, channels: 3 } },
    encoder: { type: 'convnet', channels: [4, 8] },
    projector: { layers: 2, hidden: 16, out: 8, batchNorm: true },
    loss: { id: loss },
    batchSize: 16,
    epochs: STEPS / 4, // 64 / 16 = 4 steps per epoch
    // SGD: an update proportional to the gradient, so float rounding stays rounding (Adam's first steps are
    // ~lr * sign(g), which turns a 1e-9 difference in a near-zero gradient into a full lr-sized one)
    optimizer: { type: 'sgd', lr: 0.05 },
    eval: { every: STEPS, size: 32, bankSize: 64, knnK: 10, pca: true, linearProbe: true },
    checkpointEvery: 0,
    seed: 9,
  });
  const dataset = await openDataset({ id: 'synthetic', seed: config.seed, ...config.dataset.synthetic });
  const events: EngineEvent[] = [];
  const trainer = await Trainer.create(config, { dataset, onEvent: (e) => events.push(e) });
  try {
    await trainer.run();
  } finally {
    trainer.dispose();
  }
  expect(events.filter((e) => e.type === 'error')).toEqual([]);
  const losses = events.filter((e): e is StepEvent => e.type === 'step').map((e) => e.loss);
  const evals = events.filter((e): e is EvalEvent => e.type === 'eval');
  expect(losses).toHaveLength(STEPS);
  expect(evals.length).toBeGreaterThanOrEqual(1);
  return { losses, metrics: evals[evals.length - 1] };
}

function expectMetricsClose(actual: MetricSet, expected: MetricSet, tol: number): void {
  for (const key of ['alignment', 'uniformity', 'tolerance', 'effectiveRank', 'knnTop1'] as const) {
    expect(actual[key], key).toBeCloseTo(expected[key], tol);
  }
  expect(actual.spectrum).toHaveLength(expected.spectrum.length);
  actual.spectrum.forEach((value, i) => expect(value, `spectrum[${i}]`).toBeCloseTo(expected.spectrum[i], tol));
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
      expect(Math.abs(other.losses[0] - cpu.losses[0])).toBeLessThan(1e-4 * Math.max(1, Math.abs(cpu.losses[0])));
      other.losses.forEach((value, i) => expect(value, `loss at step ${i + 1}`).toBeCloseTo(cpu.losses[i], 3));
      expectMetricsClose(other.metrics.h, cpu.metrics.h, 3);
      expectMetricsClose(other.metrics.z, cpu.metrics.z, 3);
      expect(cpu.metrics.linearProbeTop1).not.toBeNull();
      expect(other.metrics.linearProbeTop1).toBeCloseTo(cpu.metrics.linearProbeTop1!, 2);
      // the 2-D PCA up to the sign of each axis
      const [a, b] = [other.metrics.pca!.z, cpu.metrics.pca!.z];
      expect(a).toHaveLength(b.length);
      for (const axis of [0, 1]) {
        const sign = Math.sign(a.reduce((sum, value, i) => (i % 2 === axis ? sum + value * b[i] : sum), 0)) || 1;
        a.forEach((value, i) => {
          if (i % 2 === axis) expect(value * sign, `pca[${i}]`).toBeCloseTo(b[i], 2);
        });
      }
    },
  );
});
