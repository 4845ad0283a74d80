import * as tf from '@tensorflow/tfjs';
import { createLoss } from '../methods/registry';
import type { MethodModule } from '../methods/types';
import { evaluateEmbeddings, pca2d } from '../metrics/index';
import { makeViews } from './augment';
import { decodeCheckpoint, encodeCheckpoint, type TrainerState } from './checkpoint';
import type { RunConfig } from './config';
import { batchToTensor } from './data/index';
import type { Dataset, DatasetSplit } from './data/types';
import { buildNetwork } from '../nn/networks';
import type { Network } from '../nn/types';
import type { EngineEvent, EvalEvent } from './events';
import { createOptimizer, learningRate, type Optimizer } from './optim';
import { Rng } from '../nn/random';

/**
 * The training loop: batch -> views -> encoder -> loss -> optimizer -> events.
 *
 * Determinism: every random stream is derived from (seed, purpose, step or epoch), never carried across
 * steps, so the same config + seed + backend gives the same curve, and a run resumed from a checkpoint at
 * step k continues exactly like the uninterrupted one.
 */

export interface TrainerOptions {
  dataset: Dataset;
  onEvent: (event: EngineEvent) => void;
  /** Name of the active tfjs backend, reported in the 'started' event. */
  backend?: string;
}

/** 'yielded': reached options.untilStep (the worker interleaves several runs on one device this way). */
export type RunOutcome = 'completed' | 'stopped' | 'paused' | 'yielded' | 'error';

const EVAL_CHUNK = 256;
/** Purposes for derived random streams. */
const STREAM = { data: 1, augment: 2, evalAugment: 3, init: 4, loss: 5 } as const;

function derivedSeed(seed: number, purpose: number, index: number): number {
  // splitmix-style mixing of (seed, purpose, index) into 31 bits
  let x = (seed ^ Math.imul(purpose, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) & 0x7fffffff;
}

export class Trainer {
  readonly config: RunConfig;
  readonly network: Network;
  readonly loss: MethodModule;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  private readonly optimizer: Optimizer;
  private readonly dataset: Dataset;
  private readonly onEvent: (event: EngineEvent) => void;
  private readonly backendName: string;
  private train: DatasetSplit;
  private test: DatasetSplit;
  private trainCount: number;
  private channelMean: number[];
  private channelStd: number[];
  private stepCount = 0;
  private epochOrder: { epoch: number; order: number[] } | null = null;
  private pauseRequested = false;
  private stopRequested = false;
  private externalError: string | null = null;
  private running = false;
  private yielded = false;
  private lastCheckpoint: { step: number; bytes: Uint8Array } | null = null;
  private disposed = false;

  private constructor(
    config: RunConfig,
    options: TrainerOptions,
    splits: { train: DatasetSplit; test: DatasetSplit },
  ) {
    this.config = config;
    this.dataset = options.dataset;
    this.onEvent = options.onEvent;
    this.backendName = options.backend ?? tf.getBackend();
    this.train = splits.train;
    this.test = splits.test;
    this.trainCount =
      config.dataset.trainLimit > 0
        ? Math.min(config.dataset.trainLimit, splits.train.count)
        : splits.train.count;
    if (this.trainCount < config.batchSize) {
      throw new Error(
        `batchSize ${config.batchSize} is larger than the ${this.trainCount} training images; lower batchSize or raise dataset.trainLimit`,
      );
    }
    this.stepsPerEpoch =
      config.stepsPerEpoch > 0
        ? config.stepsPerEpoch
        : Math.max(1, Math.floor(this.trainCount / config.batchSize));
    this.totalSteps = Math.max(1, Math.ceil(config.epochs * this.stepsPerEpoch));
    ({ mean: this.channelMean, std: this.channelStd } = channelStatistics(
      splits.train,
      this.dataset.imageShape,
      this.trainCount,
    ));
    this.network = buildNetwork({
      encoder: config.encoder,
      projector: config.projector,
      inputShape: this.dataset.imageShape,
      seed: derivedSeed(config.seed, STREAM.init, 0),
      layers: config.nn,
    });
    this.loss = createLoss(config.loss.id, config.loss.params);
    this.loss.bind?.({
      network: this.network,
      totalSteps: this.totalSteps,
      stepsPerEpoch: this.stepsPerEpoch,
      numClasses: this.dataset.classes.length,
      seed: derivedSeed(config.seed, STREAM.loss, 0),
    });
    this.optimizer = createOptimizer(config.optimizer);
  }

  /** Loads the dataset splits and builds network, loss and optimizer for `config`. */
  static async create(config: RunConfig, options: TrainerOptions): Promise<Trainer> {
    const [train, test] = await Promise.all([options.dataset.train(), options.dataset.test()]);
    return new Trainer(config, options, { train, test });
  }

  get step(): number {
    return this.stepCount;
  }

  get epoch(): number {
    return this.stepCount / this.stepsPerEpoch;
  }

  get lastCheckpointStep(): number | null {
    return this.lastCheckpoint?.step ?? null;
  }

  /** Asks the loop to pause after the current step (run() then resolves 'paused'; call run() to resume). */
  pause(): void {
    this.pauseRequested = true;
  }

  /** Asks the loop to stop after the current step (run() resolves 'stopped'). */
  stop(): void {
    this.stopRequested = true;
  }

  /** Stops the run with an error from outside the loop (e.g. the GPU device was lost). */
  fail(message: string): void {
    this.externalError = message;
  }

  /**
   * Trains until the last step, a pause, a stop or an error (or `untilStep`, then resolves 'yielded');
   * emits events as it goes. The 'started' event is sent once per run() call that starts from a pause or
   * from the beginning, not when continuing after a yield.
   */
  async run(options: { untilStep?: number } = {}): Promise<RunOutcome> {
    if (this.running) throw new Error('this run is already training');
    if (this.disposed)
      throw new Error('this run was disposed; start a new one from its config or checkpoint');
    this.running = true;
    this.pauseRequested = false;
    try {
      const parameters = this.network.parameterCount();
      const lossParams = this.loss.trainableVariables.reduce((s, v) => s + v.size, 0);
      if (!this.yielded)
        this.onEvent({
          type: 'started',
          config: this.config,
          backend: this.backendName,
          totalSteps: this.totalSteps,
          stepsPerEpoch: this.stepsPerEpoch,
          startStep: this.stepCount,
          parameters: { ...parameters, loss: lossParams, total: parameters.total + lossParams },
        });
      if (this.stepCount === 0 && !this.yielded && this.config.eval.every > 0)
        this.onEvent(await this.evaluate());
      // the initial weights are the last good state until the first checkpoint
      if (!this.lastCheckpoint) await this.checkpoint();
      this.yielded = false;
      while (this.stepCount < this.totalSteps) {
        if (options.untilStep !== undefined && this.stepCount >= options.untilStep) {
          this.yielded = true;
          return 'yielded';
        }
        if (this.externalError) return this.failRun(this.externalError);
        if (this.stopRequested) {
          this.onEvent({ type: 'finished', step: this.stepCount, reason: 'stopped' });
          return 'stopped';
        }
        if (this.pauseRequested) {
          this.pauseRequested = false;
          this.onEvent({ type: 'paused', step: this.stepCount });
          return 'paused';
        }
        const started = performance.now();
        const lr = learningRate(
          this.config.optimizer.lr,
          this.config.schedule,
          this.stepCount,
          this.totalSteps,
          this.stepsPerEpoch,
        );
        let lossValue: number;
        try {
          const lossTensor = this.trainStep(this.stepCount, lr);
          lossValue = (await lossTensor.data())[0];
          lossTensor.dispose();
        } catch (err) {
          const message = describeStepError((err as Error).message, this.backendName, this.config.batchSize);
          return this.failRun(`step ${this.stepCount + 1} failed: ${message}`);
        }
        if (!Number.isFinite(lossValue)) {
          return this.failRun(
            `the loss became ${lossValue} at step ${this.stepCount + 1} (epoch ${(this.epoch + 1 / this.stepsPerEpoch).toFixed(2)}); ` +
              `the run stopped and the weights were restored to the last good checkpoint` +
              (this.lastCheckpoint
                ? ` (step ${this.lastCheckpoint.step})`
                : ' (none taken yet: the initial weights)') +
              `. Lower optimizer.lr, raise the temperature, or add warm-up (schedule.warmupEpochs).`,
          );
        }
        this.stepCount += 1;
        const elapsedMs = performance.now() - started;
        this.onEvent({
          type: 'step',
          step: this.stepCount,
          epoch: this.epoch,
          loss: lossValue,
          lr,
          imagesPerSecond: (this.config.batchSize * 1000) / Math.max(elapsedMs, 1e-3),
          elapsedMs,
        });
        const last = this.stepCount === this.totalSteps;
        const { every } = this.config.eval;
        if ((every > 0 && this.stepCount % every === 0) || last) this.onEvent(await this.evaluate());
        const cpEvery = this.config.checkpointEvery;
        if ((cpEvery > 0 && this.stepCount % cpEvery === 0) || last) await this.checkpoint();
      }
      this.onEvent({ type: 'finished', step: this.stepCount, reason: 'completed' });
      return 'completed';
    } finally {
      this.running = false;
    }
  }

  /** One optimizer step; returns the loss (a scalar the caller reads and disposes). */
  private trainStep(step: number, lr: number): tf.Scalar {
    const indices = this.batchIndices(step);
    const labels = Int32Array.from(indices, (i) => this.train.labels[i]);
    const rng = new Rng(derivedSeed(this.config.seed, STREAM.augment, step));
    const variables = [...this.network.trainableVariables, ...this.loss.trainableVariables];
    const { value, grads } = tf.tidy(() => {
      const images = batchToTensor(this.train, indices, this.dataset.imageShape);
      const views = makeViews(images, this.config.augment, this.config.views, rng).map((v) =>
        this.standardize(v),
      );
      const labelTensor = tf.tensor1d(labels, 'int32');
      return tf.variableGrads(() => {
        const { h, z } = this.forwardViews(views, true);
        return this.loss.compute({ views: z, features: h, labels: labelTensor, images: views });
      }, variables);
    });
    this.optimizer.apply(
      variables,
      variables.map((v) => grads[v.name]),
      lr,
    );
    tf.dispose(grads);
    this.loss.afterStep?.({ step: step + 1, totalSteps: this.totalSteps });
    return value;
  }

  /**
   * Runs the network on every view. nn.batchNormViews 'joint': one forward pass per group of same-sized views
   * (BatchNorm statistics over the group); 'per-view': one forward pass per view (statistics per view).
   */
  private forwardViews(views: tf.Tensor4D[], training: boolean): { h: tf.Tensor2D[]; z: tf.Tensor2D[] } {
    const h: tf.Tensor2D[] = new Array(views.length);
    const z: tf.Tensor2D[] = new Array(views.length);
    const groups = new Map<string, number[]>();
    const perView = this.config.nn.batchNormViews === 'per-view';
    views.forEach((v, i) => {
      const key = perView ? `view${i}` : v.shape.slice(1).join('x');
      groups.set(key, [...(groups.get(key) ?? []), i]);
    });
    for (const members of groups.values()) {
      const batch =
        members.length === 1
          ? views[members[0]]
          : tf.concat(
              members.map((i) => views[i]),
              0,
            );
      const out = this.network.forward(batch as tf.Tensor4D, training);
      const hs = members.length === 1 ? [out.h] : tf.split(out.h, members.length, 0);
      const zs = members.length === 1 ? [out.z] : tf.split(out.z, members.length, 0);
      members.forEach((viewIndex, k) => {
        h[viewIndex] = hs[k] as tf.Tensor2D;
        z[viewIndex] = zs[k] as tf.Tensor2D;
      });
    }
    return { h, z };
  }

  /** dataset.standardize 'channel': (x - mean_c) / std_c of the training images; 'none': x as it is. */
  private standardize(images: tf.Tensor4D): tf.Tensor4D {
    if (this.config.dataset.standardize === 'none') return images;
    return tf.tidy(() => tf.div(tf.sub(images, this.channelMean), this.channelStd) as tf.Tensor4D);
  }

  /** Indices of the training images of optimizer step `step`: a per-epoch seeded permutation, drop-last. */
  private batchIndices(step: number): number[] {
    const { batchSize } = this.config;
    const perEpochBatches = Math.floor(this.trainCount / batchSize);
    const epoch = Math.floor(step / perEpochBatches);
    if (!this.epochOrder || this.epochOrder.epoch !== epoch) {
      this.epochOrder = {
        epoch,
        order: new Rng(derivedSeed(this.config.seed, STREAM.data, epoch)).permutation(this.trainCount),
      };
    }
    const start = (step % perEpochBatches) * batchSize;
    return this.epochOrder.order.slice(start, start + batchSize);
  }

  /** Embeds split images [start, start + count) in chunks; clean (no augmentation) unless `rng` is given. */
  private embed(split: DatasetSplit, count: number, rng?: Rng): { h: tf.Tensor2D; z: tf.Tensor2D } {
    const hs: tf.Tensor2D[] = [];
    const zs: tf.Tensor2D[] = [];
    for (let start = 0; start < count; start += EVAL_CHUNK) {
      const indices = Array.from({ length: Math.min(EVAL_CHUNK, count - start) }, (_, k) => start + k);
      const out = tf.tidy(() => {
        let images = batchToTensor(split, indices, this.dataset.imageShape);
        if (rng) {
          images = makeViews(
            images,
            this.config.augment,
            { ...this.config.views, large: 1, small: 0 },
            rng,
          )[0];
        }
        return this.network.forward(this.standardize(images), false);
      });
      hs.push(out.h);
      zs.push(out.z);
    }
    const h = tf.concat(hs, 0) as tf.Tensor2D;
    const z = tf.concat(zs, 0) as tf.Tensor2D;
    tf.dispose([...hs, ...zs]);
    return { h, z };
  }

  /**
   * Clean backbone features h of the first `count` test images, standardised exactly as in training, read
   * back as a row-major [count, featureDim] array with their labels (embedding exports).
   */
  async embedTestFeatures(
    count: number,
  ): Promise<{ vectors: Float32Array; dim: number; labels: Int32Array }> {
    const total = Math.min(count, this.test.count);
    const { h, z } = this.embed(this.test, total);
    try {
      return {
        vectors: (await h.data()) as Float32Array,
        dim: this.network.featureDim,
        labels: this.test.labels.slice(0, total),
      };
    } finally {
      tf.dispose([h, z]);
    }
  }

  /** All metrics of metrics.md on the eval subset, for h and z. */
  async evaluate(): Promise<EvalEvent> {
    const started = performance.now();
    const evalCount = Math.min(this.config.eval.size, this.test.count);
    const bankCount = Math.min(this.config.eval.bankSize, this.trainCount);
    const evalRng = new Rng(derivedSeed(this.config.seed, STREAM.evalAugment, 0));
    const clean = this.embed(this.test, evalCount);
    const viewA = this.embed(this.test, evalCount, evalRng);
    const viewB = this.embed(this.test, evalCount, evalRng);
    const bank = this.embed(this.train, bankCount);
    const evalLabels = this.test.labels.subarray(0, evalCount);
    const bankLabels = this.train.labels.subarray(0, bankCount);
    try {
      const metrics = await evaluateEmbeddings(
        {
          clean,
          viewA,
          viewB,
          evalLabels,
          bank: { h: bank.h, z: bank.z, labels: bankLabels },
        },
        {
          knnK: this.config.eval.knnK,
          knnTemperature: this.config.eval.knnTemperature,
          linearProbe: this.config.eval.linearProbe,
          numClasses: this.dataset.classes.length,
        },
      );
      let pca: EvalEvent['pca'] = null;
      if (this.config.eval.pca) {
        const [ph, pz] = await Promise.all([pca2d(clean.h), pca2d(clean.z)]);
        pca = { h: Array.from(ph.points), z: Array.from(pz.points), labels: Array.from(evalLabels) };
      }
      return {
        type: 'eval',
        step: this.stepCount,
        epoch: this.epoch,
        h: metrics.h,
        z: metrics.z,
        linearProbeTop1: metrics.linearProbeTop1,
        pca,
        evalMs: performance.now() - started,
      };
    } finally {
      tf.dispose([clean.h, clean.z, viewA.h, viewA.z, viewB.h, viewB.z, bank.h, bank.z]);
    }
  }

  /** Serialises weights, optimizer and loss state, and the step; emits a 'checkpoint' event. */
  async checkpoint(): Promise<Uint8Array> {
    const state: TrainerState = { step: this.stepCount, optimizerStep: this.optimizer.getState().step };
    const bytes = await encodeCheckpoint(this.config, state, this.network, this.optimizer, this.loss);
    this.lastCheckpoint = { step: this.stepCount, bytes };
    this.onEvent({ type: 'checkpoint', step: this.stepCount, bytes });
    return bytes;
  }

  /** Restores a checkpoint made by checkpoint() for the same config (weights, optimizer, loss state, step). */
  restore(bytes: Uint8Array): void {
    const state = decodeCheckpoint(bytes, this.config, this.network, this.optimizer, this.loss);
    this.stepCount = state.step;
    this.epochOrder = null;
    this.lastCheckpoint = { step: state.step, bytes };
  }

  private failRun(message: string): RunOutcome {
    if (this.lastCheckpoint) {
      try {
        this.restore(this.lastCheckpoint.bytes);
      } catch (err) {
        // an aborted wasm module cannot take the weights back; the checkpoint itself is kept (exportable)
        message += ` (restoring the last checkpoint failed too: ${(err as Error).message})`;
      }
    }
    this.onEvent({
      type: 'error',
      step: this.stepCount,
      message,
      lastCheckpointStep: this.lastCheckpointStep,
    });
    this.onEvent({ type: 'finished', step: this.stepCount, reason: 'error' });
    return 'error';
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.loss.dispose();
    this.optimizer.dispose();
    this.network.dispose();
  }
}

/**
 * A failed step's error in words a user can act on. tfjs-backend-wasm's heap stops at 4 GB, and running out of it
 * reads as a bare 'Aborted()' (or the project kernels' 'out of wasm memory'): say so, and what to change.
 */
export function describeStepError(message: string, backend: string, batchSize: number): string {
  const aborted = /^Aborted\(/.test(message);
  if (backend !== 'wasm' || !(aborted || /out of wasm memory/.test(message))) return message;
  return (
    `the wasm backend ran out of memory (its heap stops at 4 GB, and a training step keeps every activation of ` +
    `its ${batchSize}-image batch for the backward pass). Lower batchSize (resnet-small needs about 30 MB an ` +
    `image: 64 fits), pick a smaller encoder, or train in a browser with WebGPU` +
    (aborted ? '; the wasm backend cannot run anything more in this page or process: reload it first' : '') +
    ` [${message}]`
  );
}

/** Per-channel mean and standard deviation of the first `count` training images, in [0, 1] units. */
export function channelStatistics(
  split: DatasetSplit,
  [height, width, channels]: [number, number, number],
  count: number,
): { mean: number[]; std: number[] } {
  const pixels = Math.min(count, 10_000) * height * width;
  const sum = new Float64Array(channels);
  const sumSq = new Float64Array(channels);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < channels; c++) {
      const v = split.images[p * channels + c] / 255;
      sum[c] += v;
      sumSq[c] += v * v;
    }
  }
  const mean = Array.from(sum, (s) => s / pixels);
  const std = Array.from(sumSq, (s, c) => Math.sqrt(Math.max(s / pixels - mean[c] ** 2, 1e-6)));
  return { mean, std };
}
