/** Index of the first NaN or +-Inf in `data`, or -1 (int32 data is always finite). Checkpoints, exports, imports. */
export function firstNonFinite(data: Float32Array | Int32Array): number {
  if (!(data instanceof Float32Array)) return -1;
  for (let i = 0; i < data.length; i++) {
    // x - x is 0 for every finite x and NaN for NaN and +-Inf: one subtraction per value
    if (data[i] - data[i] !== 0) return i;
  }
  return -1;
}
