import * as tf from '@tensorflow/tfjs';
import { createLoss } from '../methods/registry';
import type { MethodModule, StepBoundaryContext } from '../methods/types';
import { evaluateEmbeddings, evaluateRepresentation, pca2d } from '../metrics/index';
import { evaluateRegression } from '../metrics/regression';
import { applyTarget } from './data/targets';
import { makeViews } from './augment';
import { trainingViews } from './views';
import { denseDiagnostic } from './dense_eval';
import { decodeCheckpoint, encodeCheckpoint, type TrainerState } from './checkpoint';
import type { RunConfig } from './config';
import { batchToTensor } from './data/index';
import type { Dataset, DatasetSplit } from './data/types';
import { buildNetwork } from '../nn/networks';
import type { Network } from '../nn/types';
import type { EngineEvent, EvalEvent, StatusEvent } from './events';
import { checkMemoryBudget, nominalDataShape, webgpuLimits, type BackendLimits } from './budget';
import { yieldToHost } from './host';
import type { InputPreprocessing } from './export';
import { createOptimizer, learningRate, type Optimizer } from './optim';
import { Rng } from '../nn/random';
import { createProtocol, type Protocol, type ProtocolContext } from './protocols/index';

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
  /** The one checkpoint kept in memory: the state a failed step rolls back to (never a list of them). */
  private lastCheckpoint: { step: number; bytes: Uint8Array } | null = null;
  private disposed = false;
  private phase: StatusEvent['phase'] | null = null;
  /** No step has run in this trainer yet: the first one compiles the backend's kernels (status 'compiling'). */
  private compiled = false;
  /** config.protocol's hooks (protocols/): its splits, loss inputs, evaluation and stage; null without one. */
  private readonly protocol: Protocol | null;

  private constructor(
    config: RunConfig,
    options: TrainerOptions,
    splits: { train: DatasetSplit; test: DatasetSplit },
    protocol: Protocol | null = null,
  ) {
    this.config = config;
    this.protocol = protocol;
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
    this.totalSteps = protocol?.skipsPretraining
      ? 0
      : Math.max(1, Math.ceil(config.epochs * this.stepsPerEpoch));
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
      buildNetwork: (seed) =>
        buildNetwork({
          encoder: config.encoder,
          projector: config.projector,
          inputShape: this.dataset.imageShape,
          seed,
          layers: config.nn,
        }),
      imageShape: this.dataset.imageShape,
      trainCount: this.trainCount,
    });
    this.optimizer = createOptimizer(config.optimizer);
  }

  /**
   * Checks that `config` fits the backend's memory (budget.ts; throws naming the sizes before anything is
   * allocated), loads the dataset splits and builds network, loss and optimizer. Emits 'status' events
   * ('preparing-data', then 'building').
   */
  static async create(config: RunConfig, options: TrainerOptions): Promise<Trainer> {
    const backend = options.backend ?? tf.getBackend();
    const limits = backend === 'webgpu' ? webgpuDeviceLimits() : undefined;
    // nominal split sizes for file datasets: their pixels are read from files that already exist
    checkMemoryBudget(
      config,
      backend,
      { ...nominalDataShape(config), imageShape: options.dataset.imageShape },
      limits,
    );
    options.onEvent({ type: 'status', step: 0, phase: 'preparing-data' });
    const loaded = await Promise.all([options.dataset.train(), options.dataset.test()]);
    // dataset.target: the regression target of every image (rotated copies for 'rotation'), data/targets.ts
    const { train, test } = applyTarget(
      { train: loaded[0], test: loaded[1] },
      options.dataset.imageShape,
      config.dataset,
      config.seed,
    );
    checkMemoryBudget(
      config,
      backend,
      { imageShape: options.dataset.imageShape, trainCount: train.count, testCount: test.count },
      limits,
    );
    options.onEvent({ type: 'status', step: 0, phase: 'building' });
    const protocol = createProtocol(config, options.dataset, { train, test });
    return new Trainer(config, options, protocol?.splits ?? { train, test }, protocol);
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

  /**
   * The input standardisation of this run: images / 255, then per channel (x - mean) / std (exports carry it);
   * dataset.standardize 'none' is mean 0 and std 1.
   */
  get preprocessing(): InputPreprocessing {
    if (this.config.dataset.standardize === 'none') {
      const channels = this.dataset.imageShape[2];
      return {
        imageShape: this.dataset.imageShape,
        mean: Array(channels).fill(0),
        std: Array(channels).fill(1),
      };
    }
    return { imageShape: this.dataset.imageShape, mean: [...this.channelMean], std: [...this.channelStd] };
  }

  /**
   * Asks the loop to pause at the next step boundary (run() then resolves 'paused'; call run() to resume). A pause
   * asked for between two run() calls (the worker calls run() a slice at a time) is kept for the next call.
   */
  pause(): void {
    this.pauseRequested = true;
  }

  /** Asks the loop to stop at the next step boundary (run() resolves 'stopped'), inside run() or before the next call. */
  stop(): void {
    this.stopRequested = true;
  }

  /** Stops the run with an error from outside the loop (e.g. the GPU device was lost). */
  fail(message: string): void {
    this.externalError = message;
  }

  private setPhase(phase: StatusEvent['phase'], progress?: StatusEvent['progress']): void {
    if (this.phase === phase && !progress) return;
    this.phase = phase;
    this.onEvent(
      progress
        ? { type: 'status', step: this.stepCount, phase, progress }
        : { type: 'status', step: this.stepCount, phase },
    );
  }

  /** The outcome of a pending fail / stop / pause request (consuming a pause), or null to go on. */
  private takeRequest(): RunOutcome | null {
    if (this.externalError) return this.failRun(this.externalError);
    if (this.stopRequested) {
      this.onEvent({ type: 'finished', step: this.stepCount, reason: 'stopped' });
      return 'stopped';
    }
    if (this.pauseRequested) {
      this.pauseRequested = false;
      // the next run() starts from a pause: it announces itself with a 'started' event again
      this.yielded = false;
      this.onEvent({ type: 'paused', step: this.stepCount });
      return 'paused';
    }
    return null;
  }

  /**
   * Trains until the last step, a pause, a stop or an error (or `untilStep`, then resolves 'yielded');
   * emits events as it goes. The 'started' event is sent once per run() call that starts from a pause or
   * from the beginning, not when continuing after a yield. Pause, stop and fail requests are honoured at every
   * step boundary (before `untilStep` is looked at, so a slice-by-slice caller never loses one). After every step
   * the loop yields one macrotask to the host (host.ts), so timers, I/O, signal handlers and worker messages run
   * while it trains on any backend.
   */
  async run(options: { untilStep?: number } = {}): Promise<RunOutcome> {
    if (this.running) throw new Error('this run is already training');
    if (this.disposed)
      throw new Error('this run was disposed; start a new one from its config or checkpoint');
    this.running = true;
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
      const early = this.takeRequest();
      if (early) return early;
      if (this.stepCount === 0 && !this.yielded && this.config.eval.every > 0) {
        const failed = await this.evaluateOrFail();
        if (failed) return failed;
      }
      // the initial weights are the last good state until the first checkpoint
      if (!this.lastCheckpoint) {
        const failed = await this.checkpointOrFail();
        if (failed) return failed;
      }
      this.yielded = false;
      while (this.stepCount < this.totalSteps) {
        const request = this.takeRequest();
        if (request) return request;
        if (options.untilStep !== undefined && this.stepCount >= options.untilStep) {
          this.yielded = true;
          return 'yielded';
        }
        const boundaryFailed = await this.stepBoundaryOrFail();
        if (boundaryFailed) return boundaryFailed;
        this.setPhase(this.compiled ? 'training' : 'compiling');
        const started = performance.now();
        const lr = learningRate(
          this.config.optimizer.lr,
          this.config.schedule,
          this.stepCount,
          this.totalSteps,
          this.stepsPerEpoch,
        );
        let lossValue: number;
        let badWeight: string | null;
        try {
          const readback = this.trainStep(this.stepCount, lr);
          const values = await readback.data();
          readback.dispose();
          lossValue = values[0];
          const bad = values.findIndex((v, i) => i > 0 && !Number.isFinite(v));
          badWeight = bad > 0 ? this.watchedWeights()[bad - 1].name : null;
        } catch (err) {
          const message = describeStepError((err as Error).message, this.backendName, this.config.batchSize);
          return this.failRun(`step ${this.stepCount + 1} failed: ${message}`);
        }
        this.compiled = true;
        const advice = `Lower optimizer.lr, raise the temperature, or add warm-up (schedule.warmupEpochs).`;
        if (!Number.isFinite(lossValue)) {
          return this.failRun(
            `the loss became ${lossValue} at step ${this.stepCount + 1} (epoch ${(this.epoch + 1 / this.stepsPerEpoch).toFixed(2)}); ` +
              `the run stopped and the weights were restored to ${this.restoredTo()}. ${advice}`,
          );
        }
        if (badWeight !== null) {
          return this.failRun(
            `the weights became NaN or Inf (or too large to sum in float32) at step ${this.stepCount + 1} (first: ${badWeight}) although the loss was ` +
              `${lossValue}; the run stopped and the weights were restored to ${this.restoredTo()}. ` +
              'Lower optimizer.lr or optimizer.weightDecay, or add warm-up (schedule.warmupEpochs).',
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
          ...this.stageField(),
        });
        const last = this.stepCount === this.totalSteps;
        const { every } = this.config.eval;
        if ((every > 0 && this.stepCount % every === 0) || last) {
          const failed = await this.evaluateOrFail();
          if (failed) return failed;
        }
        const cpEvery = this.config.checkpointEvery;
        if ((cpEvery > 0 && this.stepCount % cpEvery === 0) || last) {
          const failed = await this.checkpointOrFail();
          if (failed) return failed;
        }
        await yieldToHost();
      }
      const staged = await this.runProtocolStage();
      if (staged) return staged;
      this.onEvent({ type: 'finished', step: this.stepCount, reason: 'completed' });
      return 'completed';
    } finally {
      this.running = false;
    }
  }

  private restoredTo(): string {
    return this.lastCheckpoint
      ? `the last good checkpoint (step ${this.lastCheckpoint.step})`
      : 'the last good checkpoint (none taken yet: the initial weights)';
  }

  /** `{ stage }` for the events of a method that trains in stages (MethodModule.stage), else nothing. */
  private stageField(): { stage?: number } {
    return this.loss.stage ? { stage: this.loss.stage() } : {};
  }

  /**
   * The method's hook before each optimizer step (MethodModule.atStepBoundary: mcl changes stage there); a hook
   * that throws fails the run like a failed step.
   */
  private async stepBoundaryOrFail(): Promise<RunOutcome | null> {
    if (!this.loss.atStepBoundary) return null;
    const context: StepBoundaryContext = {
      step: this.stepCount,
      totalSteps: this.totalSteps,
      embedTrain: async () => {
        let done = 0;
        const progress = (images: number) => {
          done += images;
          this.setPhase('evaluating', { done, total: this.trainCount });
        };
        const { h, z } = await this.embed(this.train, this.trainCount, undefined, progress, true);
        z.dispose();
        return h;
      },
      resetOptimizer: () => {
        const { slots } = this.optimizer.getState();
        const zeros = Object.fromEntries(Object.entries(slots).map(([name, t]) => [name, tf.zerosLike(t)]));
        this.optimizer.setState({ step: 0, slots: zeros });
        tf.dispose(Object.values(zeros));
      },
    };
    try {
      await this.loss.atStepBoundary(context);
      return null;
    } catch (err) {
      return this.failRun(`before step ${this.stepCount + 1}: ${(err as Error).message}`);
    }
  }

  /** Evaluates inside run(); an evaluation that fails (e.g. on non-finite outputs) fails the run, never throws. */
  private async evaluateOrFail(): Promise<RunOutcome | null> {
    try {
      this.onEvent(await this.evaluate());
      await this.evaluateProtocol();
      return null;
    } catch (err) {
      return this.failRun(
        `the evaluation at step ${this.stepCount} failed: ${(err as Error).message}; ` +
          `the weights were restored to ${this.restoredTo()}. Lower optimizer.lr or optimizer.weightDecay, or add warm-up (schedule.warmupEpochs).`,
      );
    }
  }

  /** Takes a checkpoint inside run(); a state that cannot be saved (non-finite optimizer state) fails the run. */
  private async checkpointOrFail(): Promise<RunOutcome | null> {
    try {
      await this.checkpoint();
      return null;
    } catch (err) {
      return this.failRun(
        `the checkpoint at step ${this.stepCount} could not be taken: ${(err as Error).message}; ` +
          `the weights were restored to ${this.restoredTo()}`,
      );
    }
  }

  /**
   * Every weight whose values the per-step check reads: the network's (BatchNorm statistics included, which a
   * finite loss does not vouch for) and the loss method's own trainable variables.
   */
  private watchedWeights(): { name: string; variable: tf.Variable }[] {
    return [
      ...this.network.allWeights.map((w) => ({ name: w.originalName, variable: w.read() as tf.Variable })),
      ...this.loss.trainableVariables.map((variable, i) => ({ name: `loss variable ${i}`, variable })),
    ].filter((w) => w.variable.dtype === 'float32');
  }

  /**
   * One optimizer step. Returns [loss, sum(w_1), ..., sum(w_n)] over watchedWeights() after the update: one
   * readback gives the loss and a non-finite check of every weight (a NaN or Inf anywhere makes its sum non-finite).
   */
  private trainStep(step: number, lr: number): tf.Tensor1D {
    const indices = this.batchIndices(step);
    const labels = Int32Array.from(indices, (i) => this.train.labels[i]);
    const trainTargets = this.train.targets;
    const rng = new Rng(derivedSeed(this.config.seed, STREAM.augment, step));
    const variables = [...this.network.trainableVariables, ...this.loss.trainableVariables];
    const { value, grads } = tf.tidy(() => {
      const images = batchToTensor(this.train, indices, this.dataset.imageShape);
      // the views the loss's catalogue entry asks for (augmented, with their crop geometry, or clean)
      const drawn = trainingViews(images, this.config, rng);
      const views = drawn.views.map((v) => this.standardize(v));
      const geometry = drawn.geometry ?? undefined;
      const labelTensor = tf.tensor1d(labels, 'int32');
      const targets = trainTargets
        ? tf.tensor1d(Float32Array.from(indices, (i) => trainTargets[i]))
        : undefined;
      return tf.variableGrads(() => {
        // a method that needs more than h and z (pixpro's spatial maps) runs the network itself
        const { h, z, maps }: { h: tf.Tensor2D[]; z: tf.Tensor2D[]; maps?: tf.Tensor4D[] } =
          this.loss.forwardViews?.(views) ?? this.forwardViews(views, true);
        return this.loss.compute({
          views: z,
          features: h,
          labels: labelTensor,
          images: views,
          ...this.protocol?.stepInputs?.(indices),
          maps,
          geometry,
          indices: Int32Array.from(indices),
          step,
          targets,
        });
      }, variables);
    });
    this.optimizer.apply(
      variables,
      variables.map((v) => grads[v.name]),
      lr,
    );
    tf.dispose(grads);
    this.loss.afterStep?.({ step: step + 1, totalSteps: this.totalSteps });
    const readback = tf.tidy(() =>
      tf.concat([
        tf.reshape(value, [1]),
        ...this.watchedWeights().map((w) => tf.reshape(tf.sum(w.variable), [1])),
      ]),
    ) as tf.Tensor1D;
    value.dispose();
    return readback;
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

  /**
   * Embeds split images [0, count) in chunks; clean (no augmentation) unless `rng` is given. Yields to the host
   * after every chunk and reports each chunk through `onChunk` (evaluation progress). h is the method's
   * representation (MethodModule.evalFeatures) unless `networkOnly`.
   */
  private async embed(
    split: DatasetSplit,
    count: number,
    rng?: Rng,
    onChunk?: (images: number) => void,
    networkOnly = false,
  ): Promise<{ h: tf.Tensor2D; z: tf.Tensor2D; extra?: tf.Tensor2D }> {
    const hs: tf.Tensor2D[] = [];
    const zs: tf.Tensor2D[] = [];
    const extras: tf.Tensor2D[] = [];
    try {
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
          const standardized = this.standardize(images);
          const embedded = this.network.forward(standardized, false);
          // a method's own third representation (cmim's informative embeddings) of the same images
          const extra = this.loss.representation?.(standardized, embedded);
          // the representation evaluated as h (mcl: every stage's features), unless the network's own is asked for
          const h =
            this.loss.evalFeatures && !networkOnly
              ? this.loss.evalFeatures(embedded.h, standardized)
              : embedded.h;
          return { h, z: embedded.z, extra };
        });
        hs.push(out.h);
        zs.push(out.z);
        if (out.extra) extras.push(out.extra);
        onChunk?.(indices.length);
        await yieldToHost();
      }
      const joined = { h: tf.concat(hs, 0) as tf.Tensor2D, z: tf.concat(zs, 0) as tf.Tensor2D };
      return extras.length > 0 ? { ...joined, extra: tf.concat(extras, 0) as tf.Tensor2D } : joined;
    } finally {
      tf.dispose([...hs, ...zs, ...extras]);
    }
  }

  /**
   * Clean backbone features h of the first `count` test images, standardised exactly as in training, read
   * back as a row-major [count, featureDim] array with their labels (embedding exports).
   */
  async embedTestFeatures(
    count: number,
  ): Promise<{ vectors: Float32Array; dim: number; labels: Int32Array }> {
    const total = Math.min(count, this.test.count);
    const { h, z, extra } = await this.embed(this.test, total);
    try {
      return {
        vectors: (await h.data()) as Float32Array,
        dim: h.shape[1],
        labels: this.test.labels.slice(0, total),
      };
    } finally {
      tf.dispose([h, z, ...(extra ? [extra] : [])]);
    }
  }

  /** All metrics of docs/metrics.md on the eval subset, for h and z. */
  async evaluate(): Promise<EvalEvent> {
    const started = performance.now();
    const evalCount = Math.min(this.config.eval.size, this.test.count);
    const bankCount = Math.min(this.config.eval.bankSize, this.trainCount);
    const evalRng = new Rng(derivedSeed(this.config.seed, STREAM.evalAugment, 0));
    const total = 3 * evalCount + bankCount;
    let done = 0;
    const progress = (images: number) => {
      done += images;
      this.setPhase('evaluating', { done, total });
    };
    this.setPhase('evaluating', { done, total });
    const embedded: tf.Tensor[] = [];
    const embed = async (split: DatasetSplit, count: number, rng?: Rng) => {
      const out = await this.embed(split, count, rng, progress);
      embedded.push(out.h, out.z, ...(out.extra ? [out.extra] : []));
      return out;
    };
    try {
      const clean = await embed(this.test, evalCount);
      const viewA = await embed(this.test, evalCount, evalRng);
      const viewB = await embed(this.test, evalCount, evalRng);
      const bank = await embed(this.train, bankCount);
      const evalLabels = this.test.labels.subarray(0, evalCount);
      const bankLabels = this.train.labels.subarray(0, bankCount);
      // weights that are finite but huge overflow the outputs (BatchNorm's moving statistics in inference mode)
      const sums = tf.tidy(() => tf.stack(embedded.map((t) => tf.sum(t))));
      const finite = Array.from(await sums.data()).every(Number.isFinite);
      sums.dispose();
      if (!finite) {
        throw new Error(
          `the network's outputs on the evaluation images are NaN or Inf at step ${this.stepCount}: its weights have grown too large`,
        );
      }
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
      const regression =
        this.train.targets && this.test.targets
          ? {
              regression: await evaluateRegression(
                { embeddings: bank.h, targets: this.train.targets.subarray(0, bankCount) },
                { embeddings: clean.h, targets: this.test.targets.subarray(0, evalCount) },
              ),
            }
          : {};
      let pca: EvalEvent['pca'] = null;
      if (this.config.eval.pca) {
        const [ph, pz] = await Promise.all([pca2d(clean.h), pca2d(clean.z)]);
        pca = { h: Array.from(ph.points), z: Array.from(pz.points), labels: Array.from(evalLabels) };
        if (clean.extra) pca.informative = Array.from((await pca2d(clean.extra)).points);
      }
      // the method's third representation, measured like h and z (kNN against the bank's, alignment of two views)
      const informative =
        clean.extra && viewA.extra && viewB.extra && bank.extra
          ? await evaluateRepresentation(
              {
                clean: clean.extra,
                viewA: viewA.extra,
                viewB: viewB.extra,
                evalLabels,
                bank: bank.extra,
                bankLabels,
              },
              {
                knnK: this.config.eval.knnK,
                knnTemperature: this.config.eval.knnTemperature,
                numClasses: this.dataset.classes.length,
              },
            )
          : undefined;
      const dense = await denseDiagnostic(this.config, {
        network: this.network,
        split: this.test,
        count: evalCount,
        imageShape: this.dataset.imageShape,
        standardize: (images) => this.standardize(images),
        seed: derivedSeed(this.config.seed, STREAM.evalAugment, 1),
      });
      return {
        type: 'eval',
        step: this.stepCount,
        epoch: this.epoch,
        h: metrics.h,
        z: metrics.z,
        linearProbeTop1: metrics.linearProbeTop1,
        pca,
        evalMs: performance.now() - started,
        ...(informative ? { informative } : {}),
        ...(dense ? { dense } : {}),
        ...regression,
        ...this.stageField(),
      };
    } finally {
      tf.dispose(embedded);
    }
  }

  /**
   * Serialises weights, optimizer and loss state, and the step; emits a 'checkpoint' event. Keeps this one
   * checkpoint (the rollback point), dropping the previous one. Throws, keeping the previous one, when any
   * value is NaN or Inf (encodeCheckpoint refuses to write them).
   */
  async checkpoint(): Promise<Uint8Array> {
    this.setPhase('checkpointing');
    const state: TrainerState = { step: this.stepCount, optimizerStep: this.optimizer.getState().step };
    const bytes = await encodeCheckpoint(this.config, state, this.network, this.optimizer, this.loss);
    this.lastCheckpoint = { step: this.stepCount, bytes };
    this.onEvent({ type: 'checkpoint', step: this.stepCount, bytes });
    return bytes;
  }

  /**
   * Restores a checkpoint made by checkpoint() for the same config (weights, optimizer, loss state, step). The
   * file is validated in full first (decodeCheckpoint): a mismatched or non-finite one throws and changes nothing.
   */
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

  // ---- protocols (config.protocol, src/engine/protocols/): the hooks' context, evaluation and stage ----

  private protocolContext(): ProtocolContext {
    return {
      config: this.config,
      dataset: this.dataset,
      network: this.network,
      loss: this.loss,
      train: this.train,
      test: this.test,
      trainCount: this.trainCount,
      step: this.stepCount,
      epoch: this.epoch,
      standardize: (images) => this.standardize(images),
      progress: (done, total) => this.setPhase('evaluating', { done, total }),
      interrupted: () => {
        const request = this.takeRequest();
        return request === 'stopped' || request === 'paused' || request === 'error' ? request : null;
      },
      report: (result, evalMs) =>
        this.onEvent({ type: 'protocol-eval', step: this.stepCount, epoch: this.epoch, result, evalMs }),
    };
  }

  /** The protocol's evaluation after an 'eval' of the same step (inside evaluateOrFail: a failure fails the run). */
  private async evaluateProtocol(): Promise<void> {
    if (!this.protocol?.evaluate) return;
    const started = performance.now();
    const context = this.protocolContext();
    context.report(await this.protocol.evaluate(context), performance.now() - started);
  }

  /** The protocol's stage after the last step (fine-tuning); an interruption or a failure ends the run. */
  private async runProtocolStage(): Promise<RunOutcome | null> {
    if (!this.protocol?.stage) return null;
    // its results sit next to an evaluation of the same step: a run without pretraining or periodic evals has none
    if (this.totalSteps === 0 && this.config.eval.every === 0) {
      const failed = await this.evaluateOrFail();
      if (failed) return failed;
    }
    try {
      return await this.protocol.stage(this.protocolContext());
    } catch (err) {
      return this.failRun(`the ${this.protocol.type} stage failed: ${(err as Error).message}`);
    }
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
    `its ${batchSize}-image batch for the backward pass). Lower batchSize (resnet-small on 32x32 images needs about ` +
    `9 MB an image in 2 views: 256 fits), pick a smaller encoder, or train in a browser with WebGPU` +
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

/** The buffer limits of the WebGPU device tfjs trains on (undefined before the backend exists). */
export function webgpuDeviceLimits(): BackendLimits | undefined {
  const backend = tf.findBackend('webgpu') as unknown as
    { device?: { limits: GPUSupportedLimits } } | undefined;
  const limits = backend?.device?.limits;
  return limits === undefined ? undefined : webgpuLimits(limits);
}
