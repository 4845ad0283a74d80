/**
 * TensorBoard's loss smoothing: an exponential moving average with weight `weight` on the past, debiased so the
 * first points are not pulled towards zero: s_i = m_i / (1 - weight^(i+1)), m_i = weight·m_(i-1) + (1 - weight)·x_i.
 * Non-finite values pass through unsmoothed and do not enter the average.
 */
export function smooth(values: number[], weight: number): number[] {
  if (weight <= 0) return values.slice();
  const out = new Array<number>(values.length);
  let average = 0;
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (!Number.isFinite(value)) {
      out[i] = value;
      continue;
    }
    average = average * weight + (1 - weight) * value;
    count += 1;
    out[i] = average / (1 - weight ** count);
  }
  return out;
}

/** Values divided by the first finite non-zero one: runs whose losses differ by orders of magnitude share an axis. */
export function relativeToFirst(values: number[]): number[] {
  const first = values.find((v) => Number.isFinite(v) && v !== 0);
  return first === undefined ? values.slice() : values.map((v) => v / Math.abs(first));
}
