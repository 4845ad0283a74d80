import { Rng } from '../nn/random';
import { opta, squaredDistances, type OptaOptions } from './opta';

/**
 * N-way K-shot episodes on frozen features (the unsupervised few-shot protocol of BECLR, Poulakakis-Daktylidis &
 * Jamali-Rad 2024): seeded episode sampling, a nearest-prototype classifier with or without OpTA (opta.ts), and
 * the mean accuracy with its 95% interval over the episodes. docs/metrics.md has the equations.
 */

/** One episode: `ways` classes (in episode order) and, per class, its support and query rows. */
export interface Episode {
  classes: number[];
  /** support[w] = the `maxShots` row indices of class classes[w]; a K-shot task uses the first K. */
  support: number[][];
  /** query[w] = the `queries` row indices of class classes[w] (the same for every K). */
  query: number[][];
}

export interface EpisodeSpec {
  ways: number;
  /** Support rows drawn per class: the largest K evaluated. */
  maxShots: number;
  queries: number;
  episodes: number;
  seed: number;
}

/**
 * `spec.episodes` episodes over the rows of `labels` whose class is in `classes`, seeded: each picks `ways`
 * distinct classes (a seeded shuffle of `classes`, first `ways`), then per class `maxShots + queries` distinct rows
 * (a seeded partial shuffle of that class's rows, in row order before shuffling); the first `maxShots` are the
 * support, the rest the queries. Throws naming the class when one has too few rows.
 */
export function sampleEpisodes(
  labels: ArrayLike<number>,
  classes: readonly number[],
  spec: EpisodeSpec,
): Episode[] {
  const { ways, maxShots, queries, episodes } = spec;
  for (const [name, value, min] of [
    ['ways', ways, 2],
    ['shots', maxShots, 1],
    ['queries', queries, 1],
    ['episodes', episodes, 1],
  ] as const) {
    if (!Number.isInteger(value) || value < min)
      throw new Error(`few-shot episodes: ${name} must be an integer >= ${min}, got ${value}`);
  }
  if (classes.length < ways) {
    throw new Error(
      `few-shot episodes: ${ways}-way episodes need at least ${ways} held-out classes, there are ${classes.length}; lower protocol.ways or hold out more classes (protocol.pretrainClasses)`,
    );
  }
  const rowsOf = new Map<number, number[]>(classes.map((c) => [c, []]));
  for (let i = 0; i < labels.length; i++) rowsOf.get(labels[i])?.push(i);
  const perClass = maxShots + queries;
  for (const [c, rows] of rowsOf) {
    if (rows.length < perClass) {
      throw new Error(
        `few-shot episodes: class ${c} has ${rows.length} evaluation images, an episode needs ${perClass} per class (${maxShots} shots + ${queries} queries); lower protocol.shots or protocol.queries, or evaluate on more images`,
      );
    }
  }
  const rng = new Rng(spec.seed);
  const out: Episode[] = [];
  for (let e = 0; e < episodes; e++) {
    const chosen = rng.shuffle([...classes]).slice(0, ways);
    const support: number[][] = [];
    const query: number[][] = [];
    for (const c of chosen) {
      const rows = [...rowsOf.get(c)!];
      // partial Fisher-Yates: the first perClass entries become a uniform sample without replacement
      for (let k = 0; k < perClass; k++) {
        const j = k + rng.int(rows.length - k);
        [rows[k], rows[j]] = [rows[j], rows[k]];
      }
      support.push(rows.slice(0, maxShots));
      query.push(rows.slice(maxShots, perClass));
    }
    out.push({ classes: chosen, support, query });
  }
  return out;
}

/**
 * Every row standardised over its own dimensions, f <- (f - mean(f)) / std(f) with the unbiased std (BECLR's
 * "mean normalisation" before the classifier); a constant row becomes zeros.
 */
export function standardizeRows(features: Float32Array | Float64Array, dim: number): Float64Array {
  const rows = features.length / dim;
  const out = new Float64Array(features.length);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let d = 0; d < dim; d++) mean += features[r * dim + d];
    mean /= dim;
    let ss = 0;
    for (let d = 0; d < dim; d++) ss += (features[r * dim + d] - mean) ** 2;
    const std = dim > 1 ? Math.sqrt(ss / (dim - 1)) : 0;
    for (let d = 0; d < dim; d++) out[r * dim + d] = std > 0 ? (features[r * dim + d] - mean) / std : 0;
  }
  return out;
}

/** prediction(q) = argmin_w ||q - P_w||^2 (ties: the lowest w). */
export function nearestPrototype(prototypes: ArrayLike<number>[], queries: ArrayLike<number>[]): number[] {
  return squaredDistances(queries, prototypes).map((row) => row.indexOf(Math.min(...row)));
}

/** Mean and 95% interval 1.96 std / sqrt(n) (population std, as numpy's default) of per-episode accuracies. */
export function meanWithInterval(values: readonly number[]): { mean: number; ci95: number } {
  const n = values.length;
  if (n === 0) return { mean: NaN, ci95: NaN };
  const mean = values.reduce((s, x) => s + x, 0) / n;
  const variance = values.reduce((s, x) => s + (x - mean) ** 2, 0) / n;
  return { mean, ci95: (1.96 * Math.sqrt(variance)) / Math.sqrt(n) };
}

export interface FewShotSettings {
  /** The K values evaluated (each <= the episodes' maxShots). */
  shots: readonly number[];
  /** OpTA settings, or null to report the plain prototype classifier only. */
  opta: (OptaOptions & { oneShotPasses: number; fewShotPasses: number; ratio: number }) | null;
}

export interface FewShotScore {
  shots: number;
  accuracy: number;
  ci95: number;
  /** With OpTA (null when it is off). */
  optaAccuracy: number | null;
  optaCi95: number | null;
}

/**
 * Accuracy of every K in settings.shots over the episodes: rows of `features` (dim columns) standardised
 * (standardizeRows), prototypes P_w = mean of the first K support rows of way w, each query predicted by
 * nearestPrototype; with OpTA the prototypes first go through opta() (oneShotPasses passes when K = 1, else
 * fewShotPasses, mixed back with `ratio`). Accuracy of an episode = correct queries / all its queries.
 */
export function evaluateEpisodes(
  features: Float32Array | Float64Array,
  dim: number,
  episodes: readonly Episode[],
  settings: FewShotSettings,
): FewShotScore[] {
  const standardized = standardizeRows(features, dim);
  const row = (i: number) => standardized.subarray(i * dim, (i + 1) * dim);
  return settings.shots.map((K) => {
    const plain: number[] = [];
    const aligned: number[] = [];
    for (const episode of episodes) {
      if (K > episode.support[0].length)
        throw new Error(
          `few-shot: ${K}-shot needs ${K} support rows, the episodes hold ${episode.support[0].length}`,
        );
      const prototypes = episode.support.map((rows) => {
        const proto = new Array<number>(dim).fill(0);
        for (const i of rows.slice(0, K)) {
          const f = row(i);
          for (let d = 0; d < dim; d++) proto[d] += f[d] / K;
        }
        return proto;
      });
      const queries = episode.query.flatMap((rows) => rows.map(row));
      const truth = episode.query.flatMap((rows, w) => rows.map(() => w));
      const accuracy = (predicted: number[]) =>
        predicted.filter((p, i) => p === truth[i]).length / truth.length;
      plain.push(accuracy(nearestPrototype(prototypes, queries)));
      if (settings.opta) {
        const { oneShotPasses, fewShotPasses, ratio, ...options } = settings.opta;
        const moved = opta(prototypes, queries, {
          ...options,
          passes: K === 1 ? oneShotPasses : fewShotPasses,
          shots: K,
          ratio,
        });
        aligned.push(accuracy(nearestPrototype(moved, queries)));
      }
    }
    const a = meanWithInterval(plain);
    const b = settings.opta ? meanWithInterval(aligned) : null;
    return {
      shots: K,
      accuracy: a.mean,
      ci95: a.ci95,
      optaAccuracy: b?.mean ?? null,
      optaCi95: b?.ci95 ?? null,
    };
  });
}
