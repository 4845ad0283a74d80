import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { parseRunConfig, type RunConfigInput } from './config';
import { openDataset } from './data/index';
import type { EngineEvent, EvalEvent, StatusEvent, StepEvent } from './events';
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
    const status = events.filter((e): e is StatusEvent => e.type === 'status');
    const phases = status.map((e) => e.phase).filter((phase, i, all) => phase !== all[i - 1]);
    expect(phases.slice(0, 6)).toEqual([
      'preparing-data',
      'building',
      'evaluating',
      'checkpointing',
      'compiling',
      'training',
    ]);
    expect(phases).toContain('evaluating');
    // evaluation progress: images embedded so far out of 3 x eval.size + bankSize
    const progress = status.filter((e) => e.phase === 'evaluating').map((e) => e.progress);
    expect(progress[0]).toEqual({ done: 0, total: 3 * 32 + 64 });
    expect(progress).toContainEqual({ done: 3 * 32 + 64, total: 3 * 32 + 64 });
    const types = events.filter((e) => e.type !== 'status').map((e) => e.type);
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

  it("records the input standardisation it trains with: the channel statistics, or mean 0 and std 1 for 'none'", async () => {
    const channel = await makeTrainer();
    const { mean, std } = channel.preprocessing;
    expect(mean).toHaveLength(3);
    expect(mean.some((m) => Math.abs(m) > 1e-3) && std.some((s) => Math.abs(s - 1) > 1e-3)).toBe(true);
    channel.dispose();
    const plain = await makeTrainer({
      dataset: { ...tinyConfig().dataset, standardize: 'none' },
    });
    expect(plain.preprocessing).toMatchObject({ mean: [0, 0, 0], std: [1, 1, 1] });
    plain.dispose();
  });

  it('rejects a batch larger than the training set with a clear error', async () => {
    await expect(makeTrainer({ batchSize: 128 })).rejects.toThrow(
      /batchSize 128 is larger than the 64 training images/,
    );
  });
});

describe('Trainer and the host event loop', () => {
  it('lets timers run between steps on a backend whose reads resolve as microtasks', async () => {
    const events: EngineEvent[] = [];
    const trainer = await makeTrainer({ encoder: { type: 'mlp', hidden: [8] }, epochs: 0.75 }, events);
    let ticks = 0;
    const timer = setInterval(() => (ticks += 1), 0);
    const ticksAtStep: number[] = [];
    const seen = events.length;
    try {
      const original = events.push.bind(events);
      events.push = (...items: EngineEvent[]) => {
        for (const item of items) if (item.type === 'step') ticksAtStep.push(ticks);
        return original(...items);
      };
      expect(await trainer.run()).toBe('completed');
    } finally {
      clearInterval(timer);
      trainer.dispose();
    }
    expect(events.length).toBeGreaterThan(seen);
    expect(ticksAtStep).toHaveLength(6);
    // the timer fired while the run was still training, not only once it ended
    expect(ticksAtStep.at(-1)!).toBeGreaterThan(0);
  });

  it('a pause asked for during a slice, or between slices, is honoured at the next boundary, not lost', async () => {
    const events: EngineEvent[] = [];
    const trainer = await makeTrainer({ encoder: { type: 'mlp', hidden: [8] }, epochs: 1 }, events);
    // during a one-step slice (the worker's scheduler calls run() one step at a time)
    const unsubscribe = events.length;
    const pauseOnStep = (event: EngineEvent) => {
      if (event.type === 'step' && event.step === 1) trainer.pause();
    };
    const original = events.push.bind(events);
    events.push = (...items: EngineEvent[]) => {
      items.forEach(pauseOnStep);
      return original(...items);
    };
    expect(await trainer.run({ untilStep: 1 })).toBe('paused');
    expect(trainer.step).toBe(1);
    expect(events.slice(unsubscribe).at(-1)).toEqual({ type: 'paused', step: 1 });
    // between slices
    expect(await trainer.run({ untilStep: 2 })).toBe('yielded');
    trainer.pause();
    expect(await trainer.run({ untilStep: 3 })).toBe('paused');
    expect(trainer.step).toBe(2);
    // resuming announces itself again, then a stop between slices ends the run at the next boundary
    const resumed = events.length;
    expect(await trainer.run({ untilStep: 3 })).toBe('yielded');
    expect(events.slice(resumed).find((e) => e.type === 'started')).toMatchObject({ startStep: 2 });
    trainer.stop();
    expect(await trainer.run({ untilStep: 4 })).toBe('stopped');
    expect(trainer.step).toBe(3);
    expect(events.at(-1)).toEqual({ type: 'finished', step: 3, reason: 'stopped' });
    trainer.dispose();
  });
});

describe('Trainer and non-finite weights', () => {
  it('stops when a weight goes NaN although the loss stays finite, naming the step and the weight', async () => {
    const events: EngineEvent[] = [];
    const trainer = await makeTrainer({ checkpointEvery: 2 }, events);
    await trainer.run({ untilStep: 2 });
    const good = trainer.network.allWeights.map((w) => w.read().arraySync());
    // BatchNorm's moving variance is not used by a training step, so the loss cannot notice it
    const variance = trainer.network.allWeights.find((w) => w.originalName === 'bb_bn0/moving_variance')!;
    variance.write(tf.fill(variance.shape as number[], NaN));
    expect(await trainer.run()).toBe('error');
    expect(losses(events)).toHaveLength(2); // step 3's loss was finite, and is not reported as a step
    const error = events.find((e) => e.type === 'error') as { message: string; step: number };
    expect(error).toMatchObject({ step: 2, lastCheckpointStep: 2 });
    expect(error.message).toMatch(
      /the weights became NaN or Inf \(or too large to sum in float32\) at step 3 \(first: bb_bn0\/moving_variance\) although the loss was [\d.]+; the run stopped and the weights were restored to the last good checkpoint \(step 2\)/,
    );
    expect(trainer.network.allWeights.map((w) => w.read().arraySync())).toEqual(good);
    trainer.dispose();
  });

  it('an evaluation on overflowing outputs fails the run with an error event instead of throwing', async () => {
    const events: EngineEvent[] = [];
    const trainer = await makeTrainer(
      { checkpointEvery: 2, eval: { every: 3, size: 32, bankSize: 64, knnK: 10, pca: false } },
      events,
    );
    await trainer.run({ untilStep: 2 });
    // finite but huge: inference-mode BatchNorm turns it into Inf outputs, which the metrics cannot digest
    const mean = trainer.network.allWeights.find((w) => w.originalName === 'bb_bn1/moving_mean')!;
    mean.write(tf.fill(mean.shape as number[], -1e37));
    expect(await trainer.run()).toBe('error');
    const error = events.find((e) => e.type === 'error') as { message: string };
    expect(error.message).toMatch(
      /the evaluation at step 3 failed: the network's outputs on the evaluation images are NaN or Inf at step 3: its weights have grown too large; the weights were restored to the last good checkpoint \(step 2\)/,
    );
    expect(events.at(-1)).toMatchObject({ type: 'finished', reason: 'error', step: 2 });
    trainer.dispose();
  });

  it('never takes a checkpoint holding NaN: checkpoint() throws and keeps the previous one', async () => {
    const trainer = await makeTrainer();
    await trainer.run({ untilStep: 1 });
    const first = await trainer.checkpoint();
    const weight = trainer.network.trainableVariables[0];
    weight.assign(tf.fill(weight.shape, Infinity));
    await expect(trainer.checkpoint()).rejects.toThrow(
      /holds Infinity .*a checkpoint never stores NaN or Inf/,
    );
    expect(trainer.lastCheckpointStep).toBe(1);
    trainer.restore(first);
    expect(Number.isFinite((await weight.data())[0])).toBe(true);
    trainer.dispose();
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
