import * as tf from '@tensorflow/tfjs';
import { Rng } from '../nn/random';
import { gatherRows, normalizeRows } from '../nn/rows';
import { sinkhornCodes } from './swav';

/**
 * DyCE, BECLR's dynamic clustered memory (Poulakakis-Daktylidis & Jamali-Rad 2024, "BECLR: Batch Enhanced
 * Contrastive Few-Shot Learning", ICLR 2024, arXiv 2402.02444): a FIFO memory of M past embeddings split into P
 * partitions with prototypes. Once the memory has filled it is clustered (k-means); from then on every new batch
 * is assigned to the partitions by an equal-size (Sinkhorn) optimal transport, written in, and the prototypes
 * are recomputed. enhance() appends to each batch row its k nearest memory embeddings from the partition of its
 * nearest prototype. Equations: docs/losses.md (BECLR).
 */

export interface DyceOptions {
  /** Memory rows M. */
  size: number;
  /** Partitions (prototypes) P. */
  partitions: number;
  /** Neighbours k appended per row. */
  topk: number;
  /** Sinkhorn entropy and iterations of the equal-size assignment. */
  epsilon: number;
  sinkhornIterations: number;
  /** Lloyd iterations of the k-means that first clusters the memory. */
  kmeansIterations: number;
  /** Seeds the k-means initial centres. */
  seed: number;
}

export const DYCE_SINKHORN = { epsilon: 0.05, iterations: 10 } as const;
const KMEANS_ITERATIONS = 10;

/**
 * For every row of z: the indices [N, k] of its k nearest memory rows (cosine) inside the partition of its nearest
 * prototype (cosine), or, when that partition holds fewer than k rows, the k nearest of the whole memory.
 */
export function partitionNeighbours(
  z: tf.Tensor2D,
  bank: tf.Tensor2D,
  labels: tf.Tensor1D,
  prototypes: tf.Tensor2D,
  k: number,
): tf.Tensor2D {
  return tf.tidy(() => {
    const unit = normalizeRows(z);
    const sims = tf.matMul(unit, normalizeRows(bank), false, true); // [N, M]
    const nearest = tf.argMax(tf.matMul(unit, normalizeRows(prototypes), false, true), 1); // [N]
    const member = tf.equal(tf.expandDims(tf.cast(nearest, 'int32'), 1), tf.expandDims(labels, 0)); // [N, M]
    const counts = tf.sum(tf.cast(member, 'int32'), 1, true); // [N, 1]
    // cosines lie in [-1, 1]: shifting non-members by -4 ranks every member first
    const inPartition = tf.topk(tf.where(member, sims, tf.sub(sims, 4)), k).indices;
    const global = tf.topk(sims, k).indices;
    return tf.where(
      tf.broadcastTo(tf.greaterEqual(counts, k), [z.shape[0], k]),
      inPartition,
      global,
    ) as tf.Tensor2D;
  });
}

/**
 * Equal-size assignment of the rows of z to the prototypes: cost C_ip = ||norm(z_i) - norm(c_p)||_2, codes
 * Q = Sinkhorn(exp(-C / eps)) (every prototype receives 1/P of the mass, every row 1/N), label = argmax_p Q_ip.
 */
export function assignPartitions(
  z: tf.Tensor2D,
  prototypes: tf.Tensor2D,
  epsilon: number,
  iterations: number,
): tf.Tensor1D {
  return tf.tidy(() => {
    const a = normalizeRows(z);
    const b = normalizeRows(prototypes);
    const sq = tf.sub(
      tf.add(tf.sum(tf.square(a), 1, true), tf.transpose(tf.sum(tf.square(b), 1, true))),
      tf.mul(2, tf.matMul(a, b, false, true)),
    );
    const cost = tf.sqrt(tf.relu(sq));
    return tf.cast(
      tf.argMax(sinkhornCodes(tf.neg(cost) as tf.Tensor2D, epsilon, iterations), 1),
      'int32',
    ) as tf.Tensor1D;
  });
}

/**
 * Per-partition means of the rows of `units` by `labels` [P, D]; a partition without rows keeps its row of
 * `previous`.
 */
export function partitionMeans(units: tf.Tensor2D, labels: tf.Tensor1D, previous: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const partitions = previous.shape[0];
    const sums = tf.unsortedSegmentSum(units, labels, partitions);
    const counts = tf.unsortedSegmentSum(tf.onesLike(labels).toFloat(), labels, partitions);
    const filled = tf.expandDims(tf.greater(counts, 0), 1);
    return tf.where(
      tf.broadcastTo(filled, previous.shape),
      tf.div(sums, tf.maximum(tf.expandDims(counts, 1), 1)),
      previous,
    ) as tf.Tensor2D;
  });
}

/**
 * Seeded k-means++ starting centres (Arthur & Vassilvitskii 2007): the first row uniformly, every next one with
 * probability proportional to its squared distance to the nearest centre chosen so far. Row indices.
 */
export function kmeansPlusPlus(
  values: Float32Array,
  rows: number,
  dim: number,
  partitions: number,
  seed: number,
): number[] {
  const rng = new Rng(seed);
  const nearest = new Float64Array(rows).fill(Infinity);
  const chosen = [rng.int(rows)];
  while (chosen.length < partitions) {
    const c = chosen[chosen.length - 1];
    let total = 0;
    for (let m = 0; m < rows; m++) {
      let d = 0;
      for (let k = 0; k < dim; k++) d += (values[m * dim + k] - values[c * dim + k]) ** 2;
      nearest[m] = Math.min(nearest[m], d);
      total += nearest[m];
    }
    let next = -1;
    if (total > 0) {
      let target = rng.next() * total;
      for (let m = 0; m < rows && next < 0; m++) {
        target -= nearest[m];
        if (target < 0 && nearest[m] > 0) next = m;
      }
    }
    // every row coincides with a centre already (or rounding ran past the end): the first row not chosen yet
    if (next < 0) next = Array.from({ length: rows }, (_, m) => m).find((m) => !chosen.includes(m))!;
    chosen.push(next);
  }
  return chosen;
}

/**
 * k-means (Lloyd) of the rows of x into P clusters: k-means++ starting centres (kmeansPlusPlus, seeded), then
 * `iterations` rounds of nearest-centre assignment (squared Euclidean) and centre = mean of its rows (an empty
 * cluster keeps its centre). Returns the centres and the final assignment. Reads x back once (the start).
 */
export function kmeans(
  x: tf.Tensor2D,
  partitions: number,
  iterations: number,
  seed: number,
): { centres: tf.Tensor2D; labels: tf.Tensor1D } {
  const [rows, dim] = x.shape;
  if (partitions > rows)
    throw new Error(`k-means: ${partitions} clusters need at least as many rows, got ${rows}`);
  const start = kmeansPlusPlus(x.dataSync() as Float32Array, rows, dim, partitions, seed);
  return tf.tidy(() => {
    const assign = (c: tf.Tensor2D) =>
      tf.cast(
        tf.argMin(
          tf.sub(tf.transpose(tf.sum(tf.square(c), 1, true)), tf.mul(2, tf.matMul(x, c, false, true))),
          1,
        ),
        'int32',
      ) as tf.Tensor1D;
    let centres = tf.gather(x, tf.tensor1d(start, 'int32')) as tf.Tensor2D;
    for (let it = 0; it < iterations; it++) centres = partitionMeans(x, assign(centres), centres);
    return { centres, labels: assign(centres) };
  });
}

/** The positions (ptr + r) mod size that a write of `count` rows fills, and the pointer after it. */
export function ringPositions(
  ptr: number,
  count: number,
  size: number,
): { positions: number[]; next: number } {
  const positions = Array.from({ length: count }, (_, r) => (ptr + r) % size);
  return { positions, next: (ptr + count) % size };
}

/** rows [R, D] written at `positions` of `bank` [M, D] (later rows win on a repeated position); a new tensor. */
function writeRows(bank: tf.Tensor, rows: tf.Tensor, positions: number[]): tf.Tensor {
  return tf.tidy(() => {
    const size = bank.shape[0];
    const source = new Int32Array(size).fill(-1);
    positions.forEach((p, r) => (source[p] = r));
    // every memory row taken either from itself or from the written rows: one gather over [bank; rows]
    const index = Int32Array.from(source, (r, m) => (r < 0 ? m : size + r));
    return tf.gather(tf.concat([bank, rows], 0), tf.tensor1d(index, 'int32'));
  });
}

/** One DyCE memory (BECLR keeps one per stream: teacher projections, student projections, student predictions). */
export class DyceMemory {
  readonly options: DyceOptions;
  private bank: tf.Variable;
  private labels: tf.Variable;
  private prototypes: tf.Variable;
  /** Rows written so far, capped at the memory size. */
  private filled = 0;
  private ptr = 0;
  private clustered = false;

  constructor(dim: number, options: DyceOptions) {
    if (options.partitions > options.size)
      throw new Error(
        `DyCE: ${options.partitions} partitions need a memory of at least as many rows, got ${options.size}`,
      );
    if (options.topk > options.size)
      throw new Error(
        `DyCE: ${options.topk} neighbours need a memory of at least as many rows, got ${options.size}`,
      );
    this.options = options;
    this.bank = tf.variable(tf.zeros([options.size, dim]), false);
    this.labels = tf.variable(tf.zeros([options.size], 'int32'), false, undefined, 'int32');
    this.prototypes = tf.variable(tf.zeros([options.partitions, dim]), false);
  }

  /** True once the memory has filled and been clustered: enhance() may be used. */
  get ready(): boolean {
    return this.clustered;
  }

  /** z followed by the k memory neighbours of each row, row-major ([N (1 + k), D]); no gradient to the memory. */
  enhance(z: tf.Tensor2D): tf.Tensor2D {
    if (!this.clustered) throw new Error('DyCE: enhance() before the memory has filled and been clustered');
    const bank = this.bank as tf.Tensor2D;
    const labels = this.labels as tf.Tensor1D;
    const prototypes = this.prototypes as tf.Tensor2D;
    const k = this.options.topk;
    // the search as one op without gradient: the tape would otherwise meet TopK, which has none
    const search = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const x = inputs[0] as tf.Tensor2D;
      return {
        value: tf.cast(tf.reshape(partitionNeighbours(x, bank, labels, prototypes, k), [-1]), 'float32'),
        gradFunc: () => tf.zerosLike(x),
      };
    }) as (x: tf.Tensor2D) => tf.Tensor1D;
    return tf.tidy(() => tf.concat([z, gatherRows(bank, search(z))], 0) as tf.Tensor2D);
  }

  /**
   * Writes the rows of z (FIFO). Before the memory is clustered, the rows just go in, and the memory is clustered
   * by k-means on its normalised rows once it is full. Afterwards the rows are assigned to partitions by
   * assignPartitions and every prototype becomes the mean of the normalised memory rows of its partition.
   */
  update(z: tf.Tensor2D): void {
    const { size } = this.options;
    const rows = z.shape[0] > size ? tf.slice(z, [z.shape[0] - size, 0], [size, -1]) : z;
    const count = rows.shape[0];
    const { positions, next } = ringPositions(this.ptr, count, size);
    tf.tidy(() => {
      const detached = tf.clone(rows) as tf.Tensor2D;
      if (this.clustered) {
        const assigned = assignPartitions(
          detached,
          this.prototypes as tf.Tensor2D,
          DYCE_SINKHORN.epsilon,
          DYCE_SINKHORN.iterations,
        );
        this.bank.assign(writeRows(this.bank, detached, positions));
        this.labels.assign(writeRows(this.labels, assigned, positions));
        this.prototypes.assign(
          partitionMeans(
            normalizeRows(this.bank as tf.Tensor2D),
            this.labels as tf.Tensor1D,
            this.prototypes as tf.Tensor2D,
          ),
        );
      } else {
        this.bank.assign(writeRows(this.bank, detached, positions));
      }
    });
    if (rows !== z) rows.dispose();
    this.ptr = next;
    this.filled = Math.min(size, this.filled + count);
    if (!this.clustered && this.filled === size) {
      tf.tidy(() => {
        const { centres, labels } = kmeans(
          normalizeRows(this.bank as tf.Tensor2D),
          this.options.partitions,
          this.options.kmeansIterations,
          this.options.seed,
        );
        this.prototypes.assign(centres);
        this.labels.assign(labels);
      });
      this.clustered = true;
    }
  }

  /** Copies of the memory (bank, labels, prototypes, [filled, ptr, clustered]) under `prefix`; the caller's. */
  getState(prefix: string): Record<string, tf.Tensor> {
    return {
      [`${prefix}.bank`]: this.bank.clone(),
      [`${prefix}.labels`]: this.labels.clone(),
      [`${prefix}.prototypes`]: this.prototypes.clone(),
      [`${prefix}.meta`]: tf.tensor1d([this.filled, this.ptr, this.clustered ? 1 : 0], 'int32'),
    };
  }

  /** Names and shapes getState writes (checked before anything is restored). */
  stateShapes(prefix: string): [string, number[]][] {
    return [
      [`${prefix}.bank`, this.bank.shape],
      [`${prefix}.labels`, this.labels.shape],
      [`${prefix}.prototypes`, this.prototypes.shape],
      [`${prefix}.meta`, [3]],
    ];
  }

  setState(prefix: string, state: Record<string, tf.Tensor>): void {
    this.bank.assign(state[`${prefix}.bank`]);
    this.labels.assign(tf.cast(state[`${prefix}.labels`], 'int32'));
    this.prototypes.assign(state[`${prefix}.prototypes`]);
    const [filled, ptr, clustered] = Array.from(state[`${prefix}.meta`].dataSync());
    this.filled = filled;
    this.ptr = ptr;
    this.clustered = clustered === 1;
  }

  dispose(): void {
    tf.dispose([this.bank, this.labels, this.prototypes]);
  }
}

export { KMEANS_ITERATIONS };
