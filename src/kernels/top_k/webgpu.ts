import * as tf from '@tensorflow/tfjs';
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import type { KernelArgs } from '../backend_ops';
import {
  FlatProgram,
  int32Uniforms,
  MAX_WORKGROUPS_PER_DIMENSION,
  reshapeOnBackend,
  runProgram,
} from '../webgpu/program';

/**
 * TopK along the last axis in one pass per row (the kNN monitor's top 200 of every query's similarities to the
 * bank): the stock tfjs kernel is a bitonic top-k that dispatches ~log²(n) programs, each over the whole
 * [rows, n] matrix (66 full passes for n = 2,048, k = 200).
 *
 * One 256-thread workgroup per row:
 * 1. radix select: the k-th largest value's order-preserving 32-bit key, 8 bits at a time (4 passes over the
 *    row, each a 256-bin shared-memory histogram of the keys that match the digits found so far, then one
 *    thread walks the bins down to where the count from the top reaches k);
 * 2. compaction in index order (each thread a contiguous segment, offsets from an exclusive scan of the
 *    segments' counts): every value above the threshold, and the first `remaining` values equal to it (lowest
 *    indices first, the tie rule of tf.topk), into shared memory;
 * 3. a rank sort of those k (at most MAX_K) candidates: each one's place is the number of candidates with a
 *    larger value, or the same value at a lower index; it writes its index there;
 * then GatherRowsProgram reads the values at the chosen indices. 15 barriers per row in all: barriers are what
 * SwiftShader (WebGPU on the CPU) pays most for, and a GPU does not mind the serial 256-step loops.
 *
 * Keys: +0 and -0 share one key (they compare equal); NaN sorts above +Infinity (as in torch.topk), where tfjs'
 * stock kernels leave its place unspecified.
 */
const THREADS = 256;
/** Largest k the shared-memory sort holds (keys and indices of MAX_K candidates: 8 KB). */
export const MAX_K = 1024;

class TopKIndicesProgram implements WebGPUProgram {
  variableNames = ['x'];
  outputShape: number[];
  dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [THREADS, 1, 1];
  uniforms = 'rows : i32, n : i32, k : i32,';
  shaderKey = 'projectTopK';

  constructor(rows: number, k: number) {
    this.outputShape = [rows, k];
    this.dispatch = [
      Math.min(rows, MAX_WORKGROUPS_PER_DIMENSION),
      Math.ceil(rows / MAX_WORKGROUPS_PER_DIMENSION),
      1,
    ];
  }

  getUserCode(): string {
    return `
    var<workgroup> histogram : array<atomic<u32>, ${THREADS}>;
    var<workgroup> aboveBefore : array<u32, ${THREADS}>;
    var<workgroup> equalBefore : array<u32, ${THREADS}>;
    var<workgroup> selection : array<u32, 2>;
    var<workgroup> candidateKey : array<u32, ${MAX_K}>;
    var<workgroup> candidateIndex : array<i32, ${MAX_K}>;

    // order-preserving key: a > b as floats <=> key(a) > key(b); -0 gets +0's key
    fn orderedKey(v : f32) -> u32 {
      let bits = select(bitcast<u32>(v), 0u, v == 0.0);
      return select(bits | 0x80000000u, ~bits, (bits & 0x80000000u) != 0u);
    }

    fn main() {
      let thread = i32(localIndex);
      let row = i32(workgroupId.x) + i32(workgroupId.y) * ${MAX_WORKGROUPS_PER_DIMENSION};
      let valid = row < uniforms.rows;
      let n = uniforms.n;
      let k = uniforms.k;
      let base = row * n;

      // 1. radix select of the k-th largest key, 8 bits per round (few barriers: SwiftShader pays per barrier)
      var prefix = 0u;
      var prefixMask = 0u;
      var remaining = u32(k);
      for (var digit = 0; digit < 4; digit = digit + 1) {
        let shift = u32(24 - 8 * digit);
        atomicStore(&histogram[thread], 0u);
        workgroupBarrier();
        if (valid) {
          for (var j = thread; j < n; j = j + ${THREADS}) {
            let key = orderedKey(x[base + j]);
            if ((key & prefixMask) == prefix) {
              atomicAdd(&histogram[(key >> shift) & 255u], 1u);
            }
          }
        }
        workgroupBarrier();
        if (thread == 0) {
          // from the top bin down, the first where the count reaches 'remaining' holds the k-th largest
          var counted = 0u;
          for (var bin = ${THREADS - 1}; bin >= 0; bin = bin - 1) {
            let count = atomicLoad(&histogram[bin]);
            if (counted + count >= remaining) {
              selection[0] = u32(bin);
              selection[1] = remaining - counted;
              break;
            }
            counted = counted + count;
          }
        }
        workgroupBarrier();
        prefix = prefix | (selection[0] << shift);
        prefixMask = prefixMask | (255u << shift);
        remaining = selection[1];
      }
      // prefix: the k-th largest key; take every key above it and the first 'remaining' keys equal to it

      // 2. compaction in index order: each thread owns a contiguous segment of the row
      let segment = (n + ${THREADS - 1}) / ${THREADS};
      let segmentStart = min(thread * segment, n);
      let segmentEnd = min(segmentStart + segment, n);
      var above = 0u;
      var equal = 0u;
      if (valid) {
        for (var j = segmentStart; j < segmentEnd; j = j + 1) {
          let key = orderedKey(x[base + j]);
          above = above + select(0u, 1u, key > prefix);
          equal = equal + select(0u, 1u, key == prefix);
        }
      }
      aboveBefore[thread] = above;
      equalBefore[thread] = equal;
      workgroupBarrier();
      if (thread == 0) {
        var aboveSum = 0u;
        var equalSum = 0u;
        for (var t = 0; t < ${THREADS}; t = t + 1) {
          let a = aboveBefore[t];
          let e = equalBefore[t];
          aboveBefore[t] = aboveSum;
          equalBefore[t] = equalSum;
          aboveSum = aboveSum + a;
          equalSum = equalSum + e;
        }
      }
      workgroupBarrier();
      if (valid) {
        // slot = number of values taken before this one: all above, and equal ones up to 'remaining'
        var aboveRank = aboveBefore[thread];
        var equalRank = equalBefore[thread];
        for (var j = segmentStart; j < segmentEnd; j = j + 1) {
          let key = orderedKey(x[base + j]);
          if (key > prefix) {
            let slot = aboveRank + min(equalRank, remaining);
            candidateKey[slot] = key;
            candidateIndex[slot] = j;
            aboveRank = aboveRank + 1u;
          } else if (key == prefix) {
            if (equalRank < remaining) {
              let slot = aboveRank + equalRank;
              candidateKey[slot] = key;
              candidateIndex[slot] = j;
            }
            equalRank = equalRank + 1u;
          }
        }
      }
      workgroupBarrier();

      // 3. rank sort: a candidate's place is the number of candidates that go before it (a strict total order)
      if (valid) {
        // the slots are in index order, so a tie goes before c exactly when its slot is lower
        for (var c = thread; c < k; c = c + ${THREADS}) {
          let key = candidateKey[c];
          var place = 0;
          for (var d = 0; d < c; d = d + 1) {
            place = place + select(0, 1, candidateKey[d] >= key);
          }
          for (var d = c + 1; d < k; d = d + 1) {
            place = place + select(0, 1, candidateKey[d] > key);
          }
          result[row * k + place] = candidateIndex[c];
        }
      }
    }
    `;
  }
}

/** values[r, j] = x[r, indices[r, j]] for x viewed as [rows, n]. */
class GatherRowsProgram extends FlatProgram {
  variableNames = ['x', 'indices'];
  shaderKey = 'projectGatherRows';
  uniforms = 'n : i32, k : i32,';

  getUserCode(): string {
    return `
    fn main(index : i32) {
      if (index < uniforms.size) {
        result[index] = x[(index / uniforms.k) * uniforms.n + indices[index]];
      }
    }
    `;
  }
}

/** Whether topKWebGPU takes this input (else the stock kernel runs). */
export function topKHandles(shape: number[], dtype: tf.DataType, k: number): boolean {
  const n = shape[shape.length - 1] ?? 0;
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return (
    dtype === 'float32' &&
    k >= 1 &&
    k <= MAX_K &&
    k <= n &&
    n > 1 &&
    rows >= 1 &&
    Math.ceil(rows / MAX_WORKGROUPS_PER_DIMENSION) <= MAX_WORKGROUPS_PER_DIMENSION &&
    rows * n < 2 ** 31
  );
}

/** Kernel TopK: [values, indices] of the k largest along the last axis, sorted (null: run the stock kernel). */
export function topKWebGPU(args: KernelArgs): tf.TensorInfo[] | null {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { k } = args.attrs as unknown as tf.TopKAttrs;
  if (!topKHandles(x.shape, x.dtype, k)) return null;
  const n = x.shape[x.shape.length - 1];
  const rows = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const outShape = [...x.shape.slice(0, -1), k];
  const indices2D = runProgram(
    args.backend,
    new TopKIndicesProgram(rows, k),
    [x],
    int32Uniforms([rows, n, k]),
    undefined,
    'int32',
  );
  let indices = indices2D;
  if (x.shape.length !== 2) {
    // the program wrote [rows, k]; the caller wants [...leading, k]
    indices = reshapeOnBackend(args.backend, indices2D, outShape);
    args.backend.disposeData(indices2D.dataId);
  }
  const values = runProgram(
    args.backend,
    new GatherRowsProgram(outShape),
    [x, indices],
    int32Uniforms([n, k]),
  );
  return [values, indices];
}
