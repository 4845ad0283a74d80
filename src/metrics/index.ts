import type * as tf from '@tensorflow/tfjs';
import { alignment } from './alignment';
import { effectiveRank } from './effective_rank';
import { knnTop1, type KnnOptions } from './knn';
import type { ClassLabels } from './labels';
import { linearProbeTop1, type LinearProbeOptions } from './linear_probe';
import { spectrum } from './spectrum';
import { tolerance } from './tolerance';
import { uniformity } from './uniformity';

export { alignment } from './alignment';
export { alignmentUniformityPoint, type AlignmentUniformityPoint } from './alignment_uniformity_plane';
export { effectiveRank, effectiveRankFromSingularValues } from './effective_rank';
export { knnPredict, knnTop1, type KnnOptions } from './knn';
export type { ClassLabels, LabelledEmbeddings } from './labels';
export { covariance, gram, symmetricEigen, symmetricEigenvalues, type SymmetricEigen } from './linalg';
export { linearProbeTop1, type LinearProbeOptions } from './linear_probe';
export { pca2d, type Pca2d } from './pca';
export { spectrum } from './spectrum';
export { tolerance } from './tolerance';
export { uniformity, type UniformityOptions } from './uniformity';
export { denseConsistency, denseSums, type DenseConsistency, type DenseSums } from './dense_consistency';

/** The per-representation metrics of metrics.md, as plain numbers (for h or for z). */
export interface MetricSet {
  alignment: number;
  uniformity: number;
  tolerance: number;
  /** Covariance eigenvalues of the normalised embeddings, descending. */
  spectrum: number[];
  effectiveRank: number;
  /** Weighted kNN top-1 with this representation (normalised) as query and bank. */
  knnTop1: number;
}

/** Everything one evaluation reports. */
export interface EvalMetrics {
  /** Backbone output h. */
  h: MetricSet;
  /** Projector output z. */
  z: MetricSet;
  /** kNN top-1 on norm(h), the metrics.md definition (the same number as h.knnTop1). */
  knnTop1: number;
  /** kNN top-1 on norm(z) (the same number as z.knnTop1). */
  knnTop1Z: number;
  /** Linear probe top-1 on norm(h); null when the probe is off. */
  linearProbeTop1: number | null;
}

/** Backbone output h and projector output z of the same images, row i = image i. */
export interface Embedded {
  h: tf.Tensor2D;
  z: tf.Tensor2D;
}

/** Embeddings of the evaluation subset and of the train bank; the caller owns (and disposes) every tensor. */
export interface EvalInput {
  /** The clean (unaugmented) eval images. */
  clean: Embedded;
  /** Two independent augmented views of the same eval images, for alignment. */
  viewA: Embedded;
  viewB: Embedded;
  /** Class of each eval image. */
  evalLabels: ClassLabels;
  /** Clean train images: the kNN bank and the linear probe's training set. */
  bank: Embedded & { labels: ClassLabels };
}

export interface EvalOptions {
  /** kNN neighbours (default 200, capped at the bank size). */
  knnK?: number;
  /** kNN vote temperature (default 0.1). */
  knnTemperature?: number;
  /** Uniformity temperature t (default 2). */
  uniformityT?: number;
  /** true or probe settings to run the linear probe (the slowest metric); off by default. */
  linearProbe?: boolean | LinearProbeOptions;
  /** The dataset's class count; by default the largest label + 1. */
  numClasses?: number;
}

function checkRows(input: EvalInput): void {
  const evalRows = input.evalLabels.length;
  const bankRows = input.bank.labels.length;
  const named: [string, tf.Tensor2D, number][] = [
    ['clean.h', input.clean.h, evalRows],
    ['clean.z', input.clean.z, evalRows],
    ['viewA.h', input.viewA.h, evalRows],
    ['viewA.z', input.viewA.z, evalRows],
    ['viewB.h', input.viewB.h, evalRows],
    ['viewB.z', input.viewB.z, evalRows],
    ['bank.h', input.bank.h, bankRows],
    ['bank.z', input.bank.z, bankRows],
  ];
  for (const [name, tensor, rows] of named) {
    if (tensor.shape[0] !== rows) {
      throw new Error(
        `evaluateEmbeddings: ${name} has ${tensor.shape[0]} rows but there are ${rows} labels for it; embed each image exactly once per input`,
      );
    }
  }
}

function metricSet(representation: 'h' | 'z', input: EvalInput, options: EvalOptions): Promise<MetricSet> {
  const clean = input.clean[representation];
  const knn: KnnOptions = {
    k: options.knnK,
    temperature: options.knnTemperature,
    numClasses: options.numClasses,
  };
  return Promise.all([
    alignment(input.viewA[representation], input.viewB[representation]),
    uniformity(clean, { t: options.uniformityT }),
    tolerance(clean, input.evalLabels),
    spectrum(clean),
    effectiveRank(clean),
    knnTop1(
      { embeddings: input.bank[representation], labels: input.bank.labels },
      { embeddings: clean, labels: input.evalLabels },
      knn,
    ),
  ]).then(
    ([alignmentValue, uniformityValue, toleranceValue, spectrumValues, effectiveRankValue, knnValue]) => ({
      alignment: alignmentValue,
      uniformity: uniformityValue,
      tolerance: toleranceValue,
      spectrum: spectrumValues,
      effectiveRank: effectiveRankValue,
      knnTop1: knnValue,
    }),
  );
}

/**
 * Computes every metric of metrics.md for both h and z of one evaluation and returns plain
 * numbers (each metric's doc comment gives its formula). Every metric queues its device work
 * before its first readback, so the readbacks overlap instead of stalling one after another;
 * nothing leaks, and the input tensors stay the caller's.
 */
export async function evaluateEmbeddings(input: EvalInput, options: EvalOptions = {}): Promise<EvalMetrics> {
  checkRows(input);
  const probeOptions = options.linearProbe === true ? {} : options.linearProbe || null;
  const [h, z, probe] = await Promise.all([
    metricSet('h', input, options),
    metricSet('z', input, options),
    probeOptions
      ? linearProbeTop1(
          { embeddings: input.bank.h, labels: input.bank.labels },
          { embeddings: input.clean.h, labels: input.evalLabels },
          { numClasses: options.numClasses, ...probeOptions },
        )
      : Promise.resolve(null),
  ]);
  return { h, z, knnTop1: h.knnTop1, knnTop1Z: z.knnTop1, linearProbeTop1: probe };
}

/** One extra representation of the same images (cmim's informative embeddings), row i = image i. */
export interface RepresentationInput {
  clean: tf.Tensor2D;
  viewA: tf.Tensor2D;
  viewB: tf.Tensor2D;
  evalLabels: ClassLabels;
  bank: tf.Tensor2D;
  bankLabels: ClassLabels;
}

/**
 * The MetricSet of one more representation, computed exactly as for h and z (alignment of the two views,
 * uniformity, tolerance, spectrum, effective rank, kNN against the bank). The tensors stay the caller's.
 */
export async function evaluateRepresentation(
  input: RepresentationInput,
  options: Omit<EvalOptions, 'linearProbe'> = {},
): Promise<MetricSet> {
  const both = (t: tf.Tensor2D): Embedded => ({ h: t, z: t });
  const asInput: EvalInput = {
    clean: both(input.clean),
    viewA: both(input.viewA),
    viewB: both(input.viewB),
    evalLabels: input.evalLabels,
    bank: { ...both(input.bank), labels: input.bankLabels },
  };
  checkRows(asInput);
  return metricSet('h', asInput, options);
}
