import { describe, expect, it } from 'vitest';
import {
  evaluateEpisodes,
  meanWithInterval,
  nearestPrototype,
  sampleEpisodes,
  standardizeRows,
  type Episode,
} from './few_shot';
import { opta, optaPass, sinkhornPlan } from './opta';

/** A point at `degrees` on the circle, as the 4-d row (cos, sin, -cos, -sin): standardisation keeps its angle. */
const atAngle = (degrees: number, radius = 1): number[] => {
  const a = (degrees * Math.PI) / 180;
  return [radius * Math.cos(a), radius * Math.sin(a), -radius * Math.cos(a), -radius * Math.sin(a)];
};

describe('few-shot episode sampler', () => {
  const labels = [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 4, 4, 4, 4];
  const spec = { ways: 3, maxShots: 2, queries: 2, episodes: 50, seed: 7 };

  it('draws `ways` distinct held-out classes and distinct rows of the right class for support and queries', () => {
    const episodes = sampleEpisodes(labels, [0, 1, 2, 3], spec);
    expect(episodes).toHaveLength(50);
    const seenClasses = new Set<number>();
    for (const e of episodes) {
      expect(new Set(e.classes).size).toBe(3);
      e.classes.forEach((c, w) => {
        seenClasses.add(c);
        expect(e.support[w]).toHaveLength(2);
        expect(e.query[w]).toHaveLength(2);
        const rows = [...e.support[w], ...e.query[w]];
        expect(new Set(rows).size).toBe(4);
        for (const r of rows) expect(labels[r]).toBe(c);
      });
    }
    // class 4 is not held out here: it never appears
    expect([...seenClasses].sort()).toEqual([0, 1, 2, 3]);
  });

  it('is seeded: the same seed gives the same episodes, another seed others', () => {
    const a = sampleEpisodes(labels, [0, 1, 2, 3], spec);
    expect(sampleEpisodes(labels, [0, 1, 2, 3], spec)).toEqual(a);
    expect(sampleEpisodes(labels, [0, 1, 2, 3], { ...spec, seed: 8 })).not.toEqual(a);
  });

  it('refuses too few classes or too few images per class, naming the fix', () => {
    expect(() => sampleEpisodes(labels, [0, 1], spec)).toThrow(
      /3-way episodes need at least 3 held-out classes, there are 2/,
    );
    expect(() => sampleEpisodes(labels, [0, 1, 2], { ...spec, maxShots: 3 })).toThrow(
      /class 0 has 4 evaluation images, an episode needs 5 per class \(3 shots \+ 2 queries\)/,
    );
    expect(() => sampleEpisodes(labels, [0, 1, 2], { ...spec, ways: 1 })).toThrow(
      /ways must be an integer >= 2/,
    );
  });
});

describe('few-shot classifier and statistics', () => {
  it('standardises each row by its own mean and unbiased std', () => {
    const out = standardizeRows(Float32Array.from([1, 2, 3, 4, 5, 5]), 3);
    // row (1, 2, 3): mean 2, std 1; row (4, 5, 5): mean 14/3, std sqrt(1/3)
    expect(Array.from(out.subarray(0, 3))).toEqual([-1, 0, 1]);
    const s = Math.sqrt(1 / 3);
    [(4 - 14 / 3) / s, (5 - 14 / 3) / s, (5 - 14 / 3) / s].forEach((x, d) =>
      expect(out[3 + d]).toBeCloseTo(x, 5),
    );
    expect(Array.from(standardizeRows(Float32Array.from([2, 2, 2]), 3))).toEqual([0, 0, 0]);
  });

  it('predicts the nearest prototype and reports mean +- 1.96 std / sqrt(n)', () => {
    expect(
      nearestPrototype(
        [
          [0, 0],
          [10, 0],
        ],
        [
          [1, 0],
          [6, 0],
          [5, 0],
        ],
      ),
    ).toEqual([0, 1, 0]);
    // [1, 0.5, 0.75, 0.75]: mean 0.75, population variance 0.03125
    const { mean, ci95 } = meanWithInterval([1, 0.5, 0.75, 0.75]);
    expect(mean).toBe(0.75);
    expect(ci95).toBeCloseTo((1.96 * Math.sqrt(0.03125)) / 2, 12);
  });

  it('scores a hand-built episode: the plain prototypes miss a shifted class, OpTA moves them onto the queries', () => {
    // support: class 0 at 0 degrees, class 1 at 90; queries of class 0 sit at 50 degrees, of class 1 at 140.
    // Plain: the 50-degree queries are nearer the 90-degree prototype (40 < 50 degrees) -> accuracy 1/2.
    // OpTA with equal masses sends prototype 0 to the 50-degree cluster (total 50 + 50 degrees beats 140 + 40).
    const rows = [atAngle(0), atAngle(90), atAngle(50), atAngle(52), atAngle(140), atAngle(138)];
    const features = Float32Array.from(rows.flat());
    const episode: Episode = {
      classes: [7, 9],
      support: [[0], [1]],
      query: [
        [2, 3],
        [4, 5],
      ],
    };
    const [score] = evaluateEpisodes(features, 4, [episode], {
      shots: [1],
      opta: {
        epsilon: 0.05,
        maxIterations: 1000,
        threshold: 1e-6,
        oneShotPasses: 1,
        fewShotPasses: 1,
        ratio: 0.7,
      },
    });
    expect(score).toEqual({ shots: 1, accuracy: 0.5, ci95: 0, optaAccuracy: 1, optaCi95: 0 });
    const [off] = evaluateEpisodes(features, 4, [episode], { shots: [1], opta: null });
    expect(off.optaAccuracy).toBeNull();
    expect(off.accuracy).toBe(0.5);
  });
});

describe('OpTA', () => {
  it('with one prototype and uniform marginals, moves it to the mean of the queries whatever the cost', () => {
    const [moved] = optaPass(
      [[100, -3]],
      [
        [1, 2],
        [3, 6],
      ],
    );
    expect(moved[0]).toBeCloseTo(2, 6);
    expect(moved[1]).toBeCloseTo(4, 6);
  });

  it('matches the closed form of a symmetric 2 x 2 problem: pi_11 / pi_12 = exp((C_12 - C_11) / eps)', () => {
    // prototypes (0, 0), (10, 0); queries (1, 0), (9, 0): C = [[1, 81], [81, 1]] / 81, symmetric marginals
    const eps = 1;
    const plan = sinkhornPlan(
      [
        [1, 81],
        [81, 1],
      ],
      { epsilon: eps, maxIterations: 1000, threshold: 1e-12 },
    );
    const ratio = Math.exp((1 - 1 / 81) / eps);
    expect(plan[0][0] / plan[0][1]).toBeCloseTo(ratio, 6);
    expect(plan[0][0] + plan[0][1]).toBeCloseTo(0.5, 6);
    expect(plan[0][0] + plan[1][0]).toBeCloseTo(0.5, 6);
    const moved = optaPass(
      [
        [0, 0],
        [10, 0],
      ],
      [
        [1, 0],
        [9, 0],
      ],
      { epsilon: eps, maxIterations: 1000, threshold: 1e-12 },
    );
    expect(moved[0][0]).toBeCloseTo((ratio * 1 + 9) / (ratio + 1), 6);
    expect(moved[1][0]).toBeCloseTo((1 + ratio * 9) / (ratio + 1), 6);
  });

  it('mixes the transported prototypes back with ratio when there is more than one shot, repeats passes', () => {
    const prototypes = [
      [0, 0],
      [10, 0],
    ];
    const queries = [
      [1, 0],
      [9, 0],
    ];
    const options = { epsilon: 1, maxIterations: 1000, threshold: 1e-12 };
    const once = optaPass(prototypes, queries, options);
    const mixed = opta(prototypes, queries, { ...options, passes: 1, shots: 5, ratio: 0.7 });
    expect(mixed[0][0]).toBeCloseTo(0.7 * once[0][0] + 0.3 * 0, 9);
    expect(mixed[1][0]).toBeCloseTo(0.7 * once[1][0] + 0.3 * 10, 9);
    const twice = opta(prototypes, queries, { ...options, passes: 2, shots: 1, ratio: 0.7 });
    expect(twice).toEqual(optaPass(once, queries, options));
  });
});
