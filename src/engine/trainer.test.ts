import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { parseRunConfig, type RunConfigInput } from './config';
import { openDataset } from './data/index';
import type { EngineEvent, EvalEvent, StepEvent } from './events';
import { channelStatistics, describeStepError, Trainer } from './trainer';
import { tinyConfig } from './trainer_testing';

async function makeTrainer(overrides: RunConfigInput = {}, events: EngineEvent[] = []) {
  const config = parseRunConfig(tinyConfig(overrides));
  const dataset = await openDataset({ id: 'synthetic', seed: config.seed, ...config.dataset.synthetic });
  return Trainer.create(config, { dataset, onEvent: (e) => events.push(e) });
}

const losses = (events: EngineEvent[]) =>
  events.filter((e): e is StepEvent => e.type === 'step').map((e) => e.loss);

describe('Trainer', () => {
  it('emits started, step, eval, checkpoint and finished events with plain data', async () => {
    const events: EngineEvent[] = [];
    const trainer = await makeTrainer(
      { epochs: 0.5, eval: { every: 2, size: 32, bankSize: 64, knnK: 10, pca: true }, checkpointEvery: 2 },
      events,
    );
    expect(trainer.totalSteps).toBe(4);
    expect(await trainer.run()).toBe('completed');
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('started');
    expect(types.filter((t) => t === 'step')).toHaveLength(4);
    expect(types.filter((t) => t === 'eval')).toHaveLength(3); // before training, at step 2 and step 4
    expect(types.at(-1)).toBe('finished');
    const lastEval = events.filter((e): e is EvalEvent => e.type === 'eval').at(-1)!;
    expect(lastEval.step).toBe(4);
    expect(lastEval.z.spectrum).toHaveLength(8);
    expect(lastEval.h.knnTop1).toBeGreaterThanOrEqual(0);
    expect(lastEval.pca!.z).toHaveLength(64);
    const step = events.find((e): e is StepEvent => e.type === 'step')!;
    expect(step.lr).toBeGreaterThan(0);
    expect(Number.isFinite(step.loss)).toBe(true);
    expect(JSON.parse(JSON.stringify(step))).toEqual(step);
    trainer.dispose();
  });

  it('reproduces the same loss curve from the same config and seed, and a different one for another seed', async () => {
    const curves: number[][] = [];
    for (const seed of [3, 3, 4]) {
      const events: EngineEvent[] = [];
      const trainer = await makeTrainer({ seed, epochs: 0.5 }, events);
      await trainer.run();
      trainer.dispose();
      curves.push(losses(events));
    }
    expect(curves[0]).toEqual(curves[1]);
    expect(curves[0]).not.toEqual(curves[2]);
  });

  it('resuming from a checkpoint gives the same curve as an uninterrupted run', async () => {
    const full: EngineEvent[] = [];
    const a = await makeTrainer({ epochs: 0.75 }, full);
    await a.run();
    a.dispose();

    const first: EngineEvent[] = [];
    const b = await makeTrainer({ epochs: 0.75 }, first);
    expect(await b.run({ untilStep: 3 })).toBe('yielded');
    const bytes = await b.checkpoint();
    b.dispose();

    const second: EngineEvent[] = [];
    const c = await makeTrainer({ epochs: 0.75 }, second);
    c.restore(bytes);
    expect(c.step).toBe(3);
    await c.run();
    c.dispose();
    const resumed = [...losses(first), ...losses(second)];
    expect(resumed).toHaveLength(6);
    resumed.forEach((value, i) => expect(value).toBeCloseTo(losses(full)[i], 5));
  });

  it('pauses after the current step and resumes where it stopped; stop ends the run', async () => {
    const events: EngineEvent[] = [];
    const trainer = await makeTrainer({}, events);
    events.length = 0;
    const running = trainer.run();
    trainer.pause();
    expect(await running).toBe('paused');
    const pausedAt = trainer.step;
    expect(events.some((e) => e.type === 'paused')).toBe(true);
    const again = trainer.run();
    trainer.stop();
    expect(await again).toBe('stopped');
    expect(trainer.step).toBeGreaterThanOrEqual(pausedAt);
    expect(trainer.step).toBeLessThan(trainer.totalSteps);
    expect(events.at(-1)).toMatchObject({ type: 'finished', reason: 'stopped' });
    trainer.dispose();
  });

  it('stops on a NaN loss with an error naming the step, and restores the last good checkpoint', async () => {
    const events: EngineEvent[] = [];
    const trainer = await makeTrainer({ checkpointEvery: 2 }, events);
    await trainer.run({ untilStep: 2 });
    const good = trainer.network.backbone.getWeights().map((w) => w.arraySync());
    // poison a weight: the next forward pass gives NaN
    const first = trainer.network.trainableVariables[0];
    first.assign(tf.fill(first.shape, NaN));
    expect(await trainer.run()).toBe('error');
    const error = events.find((e) => e.type === 'error');
    expect(error).toMatchObject({ type: 'error', step: 2, lastCheckpointStep: 2 });
    expect((error as { message: string }).message).toMatch(/NaN at step 3/);
    expect(trainer.network.backbone.getWeights().map((w) => w.arraySync())).toEqual(good);
    expect(events.at(-1)).toMatchObject({ type: 'finished', reason: 'error' });
    trainer.dispose();
  });

  it('does not grow the number of live tensors over 200 steps', async () => {
    // an MLP keeps this fast on the cpu backend; leaks come from the loop, loss, optimizer and augment paths
    const trainer = await makeTrainer({
      encoder: { type: 'mlp', hidden: [16] },
      epochs: 30,
      eval: { every: 100, size: 32, bankSize: 64, knnK: 10, pca: true },
      checkpointEvery: 100,
    });
    await trainer.run({ untilStep: 5 });
    const baseline = tf.memory().numTensors;
    await trainer.run({ untilStep: 205 });
    expect(trainer.step).toBe(205);
    expect(tf.memory().numTensors).toBe(baseline);
    trainer.dispose();
  });

  it('a run with a stateful method (moco) and multi-crop views trains and stays finite', async () => {
    const events: EngineEvent[] = [];
    const trainer = await makeTrainer(
      { loss: { id: 'mv_dhel', params: {} }, views: { large: 2, small: 2, smallSize: 4 }, epochs: 0.25 },
      events,
    );
    await trainer.run();
    expect(losses(events).every(Number.isFinite)).toBe(true);
    trainer.dispose();
    const mocoEvents: EngineEvent[] = [];
    const moco = await makeTrainer({ loss: { id: 'moco', params: { K: 32 } }, epochs: 0.25 }, mocoEvents);
    await moco.run();
    expect(losses(mocoEvents)).toHaveLength(2);
    expect(losses(mocoEvents).every(Number.isFinite)).toBe(true);
    moco.dispose();
  });

  it('rejects a batch larger than the training set with a clear error', async () => {
    await expect(makeTrainer({ batchSize: 128 })).rejects.toThrow(
      /batchSize 128 is larger than the 64 training images/,
    );
  });
});

describe('describeStepError', () => {
  it('turns a wasm heap exhaustion into what to change, keeping the original message', () => {
    const aborted = describeStepError('Aborted(). Build with -sASSERTIONS for more info.', 'wasm', 256);
    expect(aborted).toMatch(/wasm backend ran out of memory/);
    expect(aborted).toMatch(/256-image batch/);
    expect(aborted).toMatch(/Lower batchSize/);
    expect(aborted).toMatch(/reload it first/);
    expect(aborted).toMatch(/\[Aborted\(\)/);
    const kernel = describeStepError('wasm SIMD kernel: out of wasm memory for 75759616 bytes', 'wasm', 128);
    expect(kernel).toMatch(/ran out of memory.*128-image batch/);
    expect(kernel).not.toMatch(/reload/); // the module is still alive: only the step failed
  });

  it('leaves other errors and other backends alone', () => {
    expect(describeStepError('Aborted()', 'webgpu', 256)).toBe('Aborted()');
    expect(describeStepError('shapes do not match', 'wasm', 256)).toBe('shapes do not match');
  });
});

describe('channelStatistics', () => {
  it('computes per-channel mean and std in [0, 1] units', () => {
    // two 1x1 RGB images: (0, 255, 51) and (255, 255, 153)
    const { mean, std } = channelStatistics(
      { images: new Uint8Array([0, 255, 51, 255, 255, 153]), labels: new Int32Array(2), count: 2 },
      [1, 1, 3],
      2,
    );
    expect(mean[0]).toBeCloseTo(0.5);
    expect(mean[1]).toBeCloseTo(1);
    expect(mean[2]).toBeCloseTo(0.4);
    expect(std[0]).toBeCloseTo(0.5);
    expect(std[1]).toBeCloseTo(0.001); // floor of sqrt(1e-6) for a constant channel
    expect(std[2]).toBeCloseTo(0.2);
  });
});
