import * as tf from '@tensorflow/tfjs';
import {
  focalContrastive,
  generateHardPairs,
  sampleMixingWeights,
  softCrossEntropy,
  type HardPairBatch,
} from '../../losses/core_tuning';
import { linearProbeTop1 } from '../../metrics/linear_probe';
import { buildMlpHead } from '../../nn/heads';
import { Rng } from '../../nn/random';
import type { Network } from '../../nn/types';
import { makeViews } from '../augment';
import { batchToTensor } from '../data/index';
import type { DatasetSplit } from '../data/types';
import { yieldToHost } from '../host';
import { createOptimizer, learningRate } from '../optim';
import { embedRows, protocolSeed, type Protocol, type ProtocolContext } from './common';
import type { FineTuneConfig } from './config';
import type { FineTuneResult, FineTuneVariant } from './results';

/** Random streams of the stage: the same for every variant, so that only the objective differs between them. */
const STREAM = { order: 10, augment: 11, mix: 12, heads: 13 } as const;

type Interruption = 'stopped' | 'paused' | 'error';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Top-1 accuracy of classifier(h) on the first `count` test images (inference mode). */
async function testAccuracy(
  ctx: ProtocolContext,
  network: Network,
  classifier: tf.LayersModel,
  count: number,
): Promise<number> {
  const h = await embedRows(ctx, network, ctx.test, range(count));
  try {
    const predicted = tf.tidy(() => tf.argMax(classifier.apply(h, { training: false }) as tf.Tensor2D, 1));
    const values = await predicted.data();
    predicted.dispose();
    let correct = 0;
    for (let i = 0; i < count; i++) if (values[i] === ctx.test.labels[i]) correct++;
    return correct / count;
  } finally {
    h.dispose();
  }
}

/**
 * One fine-tuning run of `variant` from a copy of the run's network: a linear classifier on the backbone features
 * (and for Core-tuning a contrastive head Linear -> ReLU -> Linear of width contrastDim), trained together with
 * the backbone. Per step, on one augmented view of a seeded batch (f = backbone features, y = labels):
 *   plain        L = CE(W f, y)
 *   core-tuning  [f; f~neg; f~pos], soft labels, hard labels = generateHardPairs(f, y)  (hardPairs)
 *                L = softCE(W [f; f~neg; f~pos], soft labels)  (mixup; else CE(W f, y))
 *                  + eta focalContrastive(g([f; f~neg; f~pos]), hard labels, tau)
 * Cosine learning-rate schedule from lr to 0; test accuracy every evalEvery steps (or epoch) and at the end.
 */
async function fineTuneVariant(
  ctx: ProtocolContext,
  config: FineTuneConfig,
  variant: FineTuneVariant['variant'],
  entry: FineTuneVariant,
  plan: { stepsPerEpoch: number; testCount: number },
  onPoint: () => void,
  onStep: () => void,
): Promise<Interruption | null> {
  const { stepsPerEpoch, testCount } = plan;
  const seed = ctx.config.seed;
  const classes = ctx.dataset.classes.length;
  const core = variant === 'core-tuning' ? config.coreTuning : null;
  const network = ctx.network.clone();
  const headRng = new Rng(protocolSeed(seed, STREAM.heads));
  const spec = { layers: 1, hidden: network.featureDim, out: classes, batchNorm: false };
  const classifier = buildMlpHead(network.featureDim, spec, headRng.fork(), 'ft_classifier');
  const contrastorSeed = headRng.fork();
  const contrastor = core
    ? buildMlpHead(
        network.featureDim,
        { layers: 2, hidden: network.featureDim, out: core.contrastDim, batchNorm: false },
        contrastorSeed,
        'ft_contrastor',
      )
    : null;
  const optimizer = createOptimizer({
    ...ctx.config.optimizer,
    type: config.optimizer,
    lr: config.lr,
    weightDecay: config.weightDecay,
    momentum: 0.9,
  });
  const variables = [
    ...network.trainableVariables,
    ...[classifier, ...(contrastor ? [contrastor] : [])].flatMap((m) =>
      m.trainableWeights.map((w) => w.read() as tf.Variable),
    ),
  ];
  const evalEvery = config.evalEvery > 0 ? config.evalEvery : stepsPerEpoch;
  let order: { epoch: number; rows: number[] } | null = null;
  let lossSum = 0;
  let lossCount = 0;
  try {
    for (let step = 0; step < entry.totalSteps; step++) {
      const interruption = ctx.interrupted();
      if (interruption) return interruption;
      const epoch = Math.floor(step / stepsPerEpoch);
      if (!order || order.epoch !== epoch)
        order = { epoch, rows: new Rng(protocolSeed(seed, STREAM.order, epoch)).permutation(ctx.trainCount) };
      const start = (step % stepsPerEpoch) * config.batchSize;
      const indices = order.rows.slice(start, start + config.batchSize);
      const labels = Int32Array.from(indices, (i) => ctx.train.labels[i]);
      const rng = new Rng(protocolSeed(seed, STREAM.augment, step));
      const mixing = core
        ? sampleMixingWeights(new Rng(protocolSeed(seed, STREAM.mix, step)), indices.length, core.alpha)
        : null;
      const lr = learningRate(
        config.lr,
        { type: 'cosine', warmupEpochs: 0, minLrFactor: 0 },
        step,
        entry.totalSteps,
        stepsPerEpoch,
      );
      const { value, grads } = tf.tidy(() => {
        const images = batchToTensor(ctx.train, indices, ctx.dataset.imageShape);
        const [view] = makeViews(
          images,
          ctx.config.augment,
          { ...ctx.config.views, large: 1, small: 0 },
          rng,
        );
        const x = ctx.standardize(view);
        const y = tf.tensor1d(labels, 'int32');
        return tf.variableGrads(() => {
          const f = network.forward(x, true).h;
          const logits = (input: tf.Tensor2D) => classifier.apply(input, { training: true }) as tf.Tensor2D;
          const oneHot = tf.oneHot(y, classes).toFloat() as tf.Tensor2D;
          if (!core || !contrastor) return softCrossEntropy(logits(f), oneHot);
          const batch: HardPairBatch = core.hardPairs
            ? generateHardPairs(f, y, classes, mixing!)
            : { features: f, soft: oneHot, hard: y };
          const ce =
            core.mixup && core.hardPairs
              ? softCrossEntropy(logits(batch.features), batch.soft)
              : softCrossEntropy(logits(f), oneHot);
          const contrast = focalContrastive(
            contrastor.apply(batch.features, { training: true }) as tf.Tensor2D,
            batch.hard,
            core.tau,
          );
          return tf.add(ce, tf.mul(core.eta, contrast)) as tf.Scalar;
        }, variables);
      });
      optimizer.apply(
        variables,
        variables.map((v) => grads[v.name]),
        lr,
      );
      tf.dispose(grads);
      const loss = (await value.data())[0];
      value.dispose();
      if (!Number.isFinite(loss)) {
        throw new Error(
          `the ${variant} fine-tuning loss became ${loss} at fine-tuning step ${step + 1}; lower protocol.lr`,
        );
      }
      lossSum += loss;
      lossCount += 1;
      onStep();
      if ((step + 1) % evalEvery === 0 || step + 1 === entry.totalSteps) {
        entry.points.push({
          step: step + 1,
          epoch: (step + 1) / stepsPerEpoch,
          trainLoss: lossSum / lossCount,
          testAccuracy: await testAccuracy(ctx, network, classifier, testCount),
        });
        lossSum = 0;
        lossCount = 0;
        onPoint();
      }
      await yieldToHost();
    }
    return null;
  } finally {
    network.dispose();
    classifier.dispose();
    contrastor?.dispose();
    optimizer.dispose();
  }
}

/**
 * Core-tuning's fine-tuning stage after pretraining (or, with from = 'weights', instead of it): the linear probe on
 * the frozen features, then plain fine-tuning (baseline) and Core-tuning, each from a copy of the same weights
 * with the same seeded batches, augmentations and head initialisation; test accuracy on the first eval.size test
 * images. Every measurement is reported at once (the whole stage so far); the run's own network is left as it
 * was (exports hold the pretrained encoder).
 */
export function createFineTune(
  config: FineTuneConfig,
  splits: { train: DatasetSplit; test: DatasetSplit },
): Protocol {
  return {
    type: 'fine-tune',
    splits,
    skipsPretraining: config.from === 'weights',
    async stage(ctx) {
      if (ctx.trainCount < config.batchSize) {
        throw new Error(
          `protocol.batchSize ${config.batchSize} is larger than the ${ctx.trainCount} training images; lower it`,
        );
      }
      const started = performance.now();
      const stepsPerEpoch =
        config.stepsPerEpoch > 0
          ? config.stepsPerEpoch
          : Math.max(1, Math.floor(ctx.trainCount / config.batchSize));
      const totalSteps = Math.max(1, Math.ceil(config.epochs * stepsPerEpoch));
      const testCount = Math.min(ctx.config.eval.size, ctx.test.count);
      const variants: FineTuneVariant['variant'][] = [
        ...(config.baseline ? (['plain'] as const) : []),
        'core-tuning',
      ];
      const result: FineTuneResult = {
        kind: 'fine-tune',
        from: config.from,
        linearProbe: null,
        variants: [],
        testImages: testCount,
        done: false,
      };
      const report = () => ctx.report(structuredClone(result), performance.now() - started);
      let done = 0;
      const total = variants.length * totalSteps;
      ctx.progress(0, total);
      if (config.linearProbe) {
        const bankCount = Math.min(ctx.config.eval.bankSize, ctx.trainCount);
        const bank = await embedRows(ctx, ctx.network, ctx.train, range(bankCount));
        const test = await embedRows(ctx, ctx.network, ctx.test, range(testCount));
        try {
          result.linearProbe = await linearProbeTop1(
            { embeddings: bank, labels: ctx.train.labels.subarray(0, bankCount) },
            { embeddings: test, labels: ctx.test.labels.subarray(0, testCount) },
            { numClasses: ctx.dataset.classes.length },
          );
        } finally {
          tf.dispose([bank, test]);
        }
        report();
      }
      for (const variant of variants) {
        const entry: FineTuneVariant = { variant, totalSteps, points: [] };
        result.variants.push(entry);
        const interruption = await fineTuneVariant(
          ctx,
          config,
          variant,
          entry,
          { stepsPerEpoch, testCount },
          report,
          () => ctx.progress(++done, total),
        );
        if (interruption) return interruption;
      }
      result.done = true;
      report();
      return null;
    },
  };
}
