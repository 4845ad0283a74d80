/**
 * OpTA, optimal-transport alignment of support prototypes to the query distribution (Poulakakis-Daktylidis &
 * Jamali-Rad 2024, "BECLR: Batch Enhanced Contrastive Few-Shot Learning", ICLR 2024, arXiv 2402.02444). Plain
 * float64 arithmetic on small matrices (one few-shot episode at a time); docs/metrics.md has the equations.
 */

export interface OptaOptions {
  /** Entropic regularisation eps of the Sinkhorn problem (on a cost normalised to [0, 1]). */
  epsilon: number;
  /** Sinkhorn iterations at most. */
  maxIterations: number;
  /** Stop once sum_i |u_i - u_i(previous)| falls below this. */
  threshold: number;
}

export const OPTA_DEFAULTS: OptaOptions = { epsilon: 0.05, maxIterations: 1000, threshold: 1e-4 };

function logSumExp(values: Float64Array): number {
  let max = -Infinity;
  for (const v of values) if (v > max) max = v;
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (const v of values) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

/**
 * The entropic transport plan between n sources and m targets with uniform marginals (1/n, 1/m), by log-domain
 * Sinkhorn iterations on the cost C / max(C):
 *   M_ij = (-C_ij + u_i + v_j) / eps
 *   u_i <- eps (log(1/n + 1e-8) - LSE_j M_ij) + u_i,   then   v_j <- eps (log(1/m + 1e-8) - LSE_i M_ij) + v_j
 * until sum_i |u_i - u_i(previous)| < threshold; plan pi_ij = exp(M_ij). `cost` is n rows of m values.
 */
export function sinkhornPlan(cost: number[][], options: OptaOptions = OPTA_DEFAULTS): number[][] {
  const n = cost.length;
  const m = n > 0 ? cost[0].length : 0;
  if (n === 0 || m === 0)
    throw new Error('OpTA: the cost matrix is empty; an episode needs support and query rows');
  if (!(options.epsilon > 0)) throw new Error(`OpTA: epsilon must be > 0, got ${options.epsilon}`);
  let maxCost = 0;
  for (const row of cost) for (const c of row) maxCost = Math.max(maxCost, c);
  // an all-zero cost (every support equal to every query) stays zero: the plan is then uniform
  const scale = maxCost > 0 ? 1 / maxCost : 1;
  const c = cost.map((row) => Float64Array.from(row, (x) => x * scale));
  const eps = options.epsilon;
  const logMu = Math.log(1 / n + 1e-8);
  const logNu = Math.log(1 / m + 1e-8);
  const u = new Float64Array(n);
  const v = new Float64Array(m);
  const rowTerms = new Float64Array(m);
  const colTerms = new Float64Array(n);
  for (let it = 0; it < options.maxIterations; it++) {
    let change = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < m; j++) rowTerms[j] = (-c[i][j] + u[i] + v[j]) / eps;
      const next = eps * (logMu - logSumExp(rowTerms)) + u[i];
      change += Math.abs(next - u[i]);
      u[i] = next;
    }
    for (let j = 0; j < m; j++) {
      for (let i = 0; i < n; i++) colTerms[i] = (-c[i][j] + u[i] + v[j]) / eps;
      v[j] = eps * (logNu - logSumExp(colTerms)) + v[j];
    }
    if (change < options.threshold) break;
  }
  return c.map((row, i) => Array.from(row, (cij, j) => Math.exp((-cij + u[i] + v[j]) / eps)));
}

/** Squared Euclidean distances between every row of `a` and every row of `b`. */
export function squaredDistances(a: ArrayLike<number>[], b: ArrayLike<number>[]): number[][] {
  return a.map((x) =>
    b.map((y) => {
      let sum = 0;
      for (let d = 0; d < x.length; d++) sum += (x[d] - y[d]) ** 2;
      return sum;
    }),
  );
}

/**
 * One OpTA pass: the plan pi between the prototypes and the queries (cost = squared Euclidean distance), then
 * every prototype becomes the barycentre of the queries it sends mass to: P'_i = sum_j (pi_ij / sum_k pi_ik) q_j.
 */
export function optaPass(
  prototypes: ArrayLike<number>[],
  queries: ArrayLike<number>[],
  options: OptaOptions = OPTA_DEFAULTS,
): number[][] {
  const plan = sinkhornPlan(squaredDistances(prototypes, queries), options);
  const dims = queries[0].length;
  return plan.map((row) => {
    const total = row.reduce((s, x) => s + x, 0);
    const out = new Array<number>(dims).fill(0);
    row.forEach((weight, j) => {
      const w = weight / total;
      for (let d = 0; d < dims; d++) out[d] += w * queries[j][d];
    });
    return out;
  });
}

/**
 * BECLR's inference-time alignment: `passes` OpTA passes (each moves the prototypes of the previous one, the
 * queries stay put); with more than one shot the result is mixed back with the original prototypes,
 * P = ratio P_OpTA + (1 - ratio) P (the reference code's 0.7), with one shot the transported prototypes are used.
 */
export function opta(
  prototypes: ArrayLike<number>[],
  queries: ArrayLike<number>[],
  settings: { passes: number; shots: number; ratio: number } & Partial<OptaOptions>,
): number[][] {
  const options: OptaOptions = { ...OPTA_DEFAULTS, ...settings };
  let moved: ArrayLike<number>[] = prototypes;
  for (let pass = 0; pass < settings.passes; pass++) moved = optaPass(moved, queries, options);
  if (settings.shots <= 1) return moved.map((row) => Array.from(row));
  return prototypes.map((row, i) =>
    Array.from(row, (x, d) => settings.ratio * moved[i][d] + (1 - settings.ratio) * x),
  );
}
