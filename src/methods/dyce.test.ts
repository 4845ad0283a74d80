import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { cosine, randomViews, type Matrix } from '../losses/testing';
import { Rng } from '../nn/random';
import {
  assignPartitions,
  DyceMemory,
  kmeans,
  partitionMeans,
  partitionNeighbours,
  ringPositions,
} from './dyce';

const angle = (deg: number): number[] => [Math.cos((deg * Math.PI) / 180), Math.sin((deg * Math.PI) / 180)];

/** The k nearest memory rows of the nearest prototype's partition, or of the whole memory, with plain loops. */
function neighboursReference(
  z: Matrix,
  bank: Matrix,
  labels: number[],
  prototypes: Matrix,
  k: number,
): number[][] {
  return z.map((row) => {
    const protoSims = prototypes.map((p) => cosine(row, p));
    const c = protoSims.indexOf(Math.max(...protoSims));
    const members = bank.map((_, m) => m).filter((m) => labels[m] === c);
    const pool = members.length >= k ? members : bank.map((_, m) => m);
    return pool.sort((a, b) => cosine(row, bank[b]) - cosine(row, bank[a])).slice(0, k);
  });
}

describe('DyCE pieces', () => {
  it('finds the k nearest rows of the nearest partition, or of the whole memory when it is too small', () => {
    const [z, bank, prototypes] = [
      randomViews(1, 1, 6, 4)[0],
      randomViews(2, 1, 30, 4)[0],
      randomViews(3, 1, 4, 4)[0],
    ];
    const rng = new Rng(4);
    // partition 3 holds only 2 rows: rows nearest prototype 3 fall back to the whole memory for k = 3
    const labels = Array.from({ length: 30 }, (_, m) => (m < 2 ? 3 : rng.int(3)));
    const got = tf.tidy(() =>
      partitionNeighbours(
        tf.tensor2d(z),
        tf.tensor2d(bank),
        tf.tensor1d(labels, 'int32'),
        tf.tensor2d(prototypes),
        3,
      ).arraySync(),
    ) as number[][];
    expect(got).toEqual(neighboursReference(z, bank, labels, prototypes, 3));
  });

  it('assigns rows to partitions in equal shares even when all are nearest one prototype', () => {
    // four rows at 0, 10, 20 and 30 degrees are all nearest (1, 0); equal shares send the two farthest to (0, 1)
    const assigned = tf.tidy(() =>
      assignPartitions(
        tf.tensor2d([angle(0), angle(10), angle(20), angle(30)]),
        tf.tensor2d([angle(0), angle(90)]),
        0.05,
        10,
      ).arraySync(),
    );
    expect(assigned).toEqual([0, 0, 1, 1]);
  });

  it('averages each partition, an empty one keeping its previous prototype', () => {
    const means = tf.tidy(() =>
      partitionMeans(
        tf.tensor2d([
          [1, 0],
          [3, 2],
          [0, 4],
        ]),
        tf.tensor1d([0, 0, 2], 'int32'),
        tf.tensor2d([
          [9, 9],
          [7, 7],
          [5, 5],
        ]),
      ).arraySync(),
    );
    expect(means).toEqual([
      [2, 1],
      [7, 7],
      [0, 4],
    ]);
  });

  it('k-means separates two far groups, whatever the seeded start', () => {
    const rows = [angle(0), angle(5), angle(10), angle(180), angle(185), angle(175)];
    for (const seed of [1, 2, 3]) {
      const labels = tf.tidy(() => kmeans(tf.tensor2d(rows), 2, 10, seed).labels.arraySync()) as number[];
      expect(labels[0]).toBe(labels[1]);
      expect(labels[1]).toBe(labels[2]);
      expect(labels[3]).toBe(labels[4]);
      expect(labels[4]).toBe(labels[5]);
      expect(labels[0]).not.toBe(labels[3]);
    }
  });

  it('writes a ring buffer: positions wrap around the memory size', () => {
    expect(ringPositions(3, 4, 5)).toEqual({ positions: [3, 4, 0, 1], next: 2 });
    expect(ringPositions(0, 2, 5)).toEqual({ positions: [0, 1], next: 2 });
  });
});

describe('DyCE memory', () => {
  const options = {
    size: 8,
    partitions: 2,
    topk: 2,
    epsilon: 0.05,
    sinkhornIterations: 10,
    kmeansIterations: 10,
    seed: 1,
  };

  it('fills first, clusters once full, then enhances every row with its partition neighbours', () => {
    const memory = new DyceMemory(2, options);
    const batch = (degrees: number[]) => tf.tensor2d(degrees.map((d) => angle(d)));
    const first = batch([0, 5, 180, 185, 10]);
    memory.update(first);
    expect(memory.ready).toBe(false);
    expect(() => memory.enhance(first)).toThrow(/before the memory has filled/);
    const second = batch([175, 3, 182]);
    memory.update(second);
    expect(memory.ready).toBe(true);
    const state = memory.getState('m');
    expect(Array.from(state['m.meta'].dataSync())).toEqual([8, 0, 1]);
    const bank = state['m.bank'].arraySync() as Matrix;
    // the memory holds the 8 rows in order
    expect(bank.map((r) => Math.round((Math.atan2(r[1], r[0]) * 180) / Math.PI))).toEqual([
      0, 5, 180, -175, 10, 175, 3, -178,
    ]);
    const query = batch([1, 179]);
    const enhanced = memory.enhance(query).arraySync() as Matrix;
    expect(enhanced).toHaveLength(2 * 3);
    const degrees = enhanced.map((r) => Math.round((Math.atan2(r[1], r[0]) * 180) / Math.PI));
    // row 1 deg: itself, then its two nearest of the 0-degree partition (0, 3); row 179: (180, -178 = 182)
    expect(degrees).toEqual([1, 179, 0, 3, 180, -178]);
    // a later batch goes into the ring at the pointer, wrapping
    memory.update(batch([90, 91, 92]));
    expect(Array.from(memory.getState('m')['m.meta'].dataSync())).toEqual([8, 3, 1]);
    tf.dispose([first, second, query, ...Object.values(state)]);
    memory.dispose();
  });

  it('restores its state exactly (a checkpointed run continues with the same memory)', () => {
    const a = new DyceMemory(2, options);
    const rows = tf.tensor2d(Array.from({ length: 9 }, (_, i) => angle(i * 40)));
    a.update(rows);
    const b = new DyceMemory(2, options);
    const saved = a.getState('x');
    b.setState('x', saved);
    const query = tf.tensor2d([angle(33)]);
    expect(b.enhance(query).arraySync()).toEqual(a.enhance(query).arraySync());
    tf.dispose([rows, query, ...Object.values(saved)]);
    a.dispose();
    b.dispose();
  });

  it('refuses a memory smaller than its partitions or neighbours', () => {
    expect(() => new DyceMemory(2, { ...options, size: 4, partitions: 5 })).toThrow(
      /5 partitions need a memory of at least/,
    );
    expect(() => new DyceMemory(2, { ...options, size: 4, topk: 5 })).toThrow(
      /5 neighbours need a memory of at least/,
    );
  });
});
