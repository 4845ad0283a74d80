import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../backend_ops';
import { COLOR_JITTER_KERNEL, JITTER_PARAM_COUNT, LUMA_WEIGHTS } from '../ops';

const [WR, WG, WB] = LUMA_WEIGHTS;
const f32 = Math.fround;

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** The luma of the pixel at `base` (its value for one channel), in float32 as the reference computes it. */
function lumaAt(data: Float32Array, base: number, channels: number): number {
  if (channels === 1) return data[base];
  return f32(f32(f32(data[base] * WR) + f32(data[base + 1] * WG)) + f32(data[base + 2] * WB));
}

/** Rotates the hue of the RGB pixel at `base` by `shift` (a fraction of the circle), via HSV as torchvision does. */
function hueShift(data: Float32Array, base: number, shift: number): void {
  const r = data[base];
  const g = data[base + 1];
  const b = data[base + 2];
  const maxc = Math.max(r, g, b);
  const minc = Math.min(r, g, b);
  const grey = maxc === minc;
  const chroma = f32(maxc - minc);
  const saturation = f32(chroma / (grey ? 1 : maxc));
  const divisor = grey ? 1 : chroma;
  const rc = f32(f32(maxc - r) / divisor);
  const gc = f32(f32(maxc - g) / divisor);
  const bc = f32(f32(maxc - b) / divisor);
  const maxIsR = maxc === r;
  const maxIsG = maxc === g && !maxIsR;
  const hueSixths = maxIsR ? f32(bc - gc) : maxIsG ? f32(2 + f32(rc - bc)) : f32(4 + f32(gc - rc));
  const shifted = f32(f32(f32(hueSixths / 6) + shift) + 2);
  const hue = f32(shifted - Math.floor(shifted));
  const sector6 = f32(hue * 6);
  const sectorFloor = Math.floor(sector6);
  const within = f32(sector6 - sectorFloor);
  const sector = sectorFloor - 6 * Math.floor(sectorFloor / 6);
  const value = maxc;
  const p = clamp01(f32(value * f32(1 - saturation)));
  const q = clamp01(f32(value * f32(1 - f32(saturation * within))));
  const t = clamp01(f32(value * f32(1 - f32(saturation * f32(1 - within)))));
  let [red, green, blue] = [value, t, p];
  if (sector === 1) [red, green, blue] = [q, value, p];
  else if (sector === 2) [red, green, blue] = [p, value, t];
  else if (sector === 3) [red, green, blue] = [p, q, value];
  else if (sector === 4) [red, green, blue] = [t, p, value];
  else if (sector === 5) [red, green, blue] = [value, p, q];
  data[base] = red;
  data[base + 1] = green;
  data[base + 2] = blue;
}

/**
 * The colour jitter and grayscale of COLOR_JITTER_KERNEL (ops.ts) for a whole batch,
 * in place in `data` [N, H, W, C]: per image, params row [jitter on, order (4 op indices: 0 brightness,
 * 1 contrast, 2 saturation, 3 hue), brightness, contrast, saturation, hue shift, grayscale]. The same formulas
 * and float32 operation order as the reference and the WebGPU kernel (torchvision's), each op clipped to [0, 1];
 * contrast blends towards the mean luma of the image as it is at that point; a zero hue shift is skipped.
 */
export function colorJitterInPlace(data: Float32Array, shape: readonly number[], params: Float32Array): void {
  const [n, height, width, channels] = shape;
  const pixels = height * width;
  for (let image = 0; image < n; image++) {
    const first = image * pixels * channels;
    const row = image * JITTER_PARAM_COUNT;
    if (params[row] > 0.5) {
      for (let k = 0; k < 4; k++) {
        const op = params[row + 1 + k];
        if (op === 0) {
          const factor = params[row + 5];
          for (let i = first; i < first + pixels * channels; i++) data[i] = clamp01(f32(data[i] * factor));
        } else if (op === 1) {
          let sum = 0;
          for (let p = 0; p < pixels; p++) sum += lumaAt(data, first + p * channels, channels);
          const mean = f32(sum / pixels);
          const factor = params[row + 6];
          const rest = f32(f32(1 - factor) * mean);
          for (let i = first; i < first + pixels * channels; i++)
            data[i] = clamp01(f32(f32(factor * data[i]) + rest));
        } else if (op === 2 && channels === 3) {
          const factor = params[row + 7];
          const rest = f32(1 - factor);
          for (let p = 0; p < pixels; p++) {
            const base = first + p * 3;
            const luma = f32(rest * lumaAt(data, base, 3));
            for (let c = 0; c < 3; c++) data[base + c] = clamp01(f32(f32(factor * data[base + c]) + luma));
          }
        } else if (op === 3 && channels === 3 && params[row + 8] !== 0) {
          const shift = params[row + 8];
          for (let p = 0; p < pixels; p++) hueShift(data, first + p * 3, shift);
        }
      }
    }
    if (channels === 3 && params[row + 9] > 0.5) {
      for (let p = 0; p < pixels; p++) {
        const base = first + p * 3;
        const luma = lumaAt(data, base, 3);
        data[base] = luma;
        data[base + 1] = luma;
        data[base + 2] = luma;
      }
    }
  }
}

/**
 * Kernel COLOR_JITTER_KERNEL on wasm (and any backend with readSync and makeOutput-style heaps): the reference is
 * ~460 small tfjs ops per view (each jitter op on a gathered sub-batch, the HSV round trip ~40), which on wasm
 * cost more than the pixels; this is one loop over the batch. x [N, H, W, C] (C = 1 or 3), params
 * [N, JITTER_PARAM_COUNT].
 */
export function colorJitterWasm(args: KernelArgs): tf.TensorInfo {
  const { x, params } = args.inputs as { x: tf.TensorInfo; params: tf.TensorInfo };
  const [n, , , channels] = x.shape;
  if (x.shape.length !== 4 || (channels !== 1 && channels !== 3) || x.dtype !== 'float32') {
    throw new Error(
      `${COLOR_JITTER_KERNEL}: x must be float32 [N, H, W, 1 or 3], got ${x.dtype} [${x.shape.join(', ')}]`,
    );
  }
  if (params.shape.join(',') !== `${n},${JITTER_PARAM_COUNT}`) {
    throw new Error(
      `${COLOR_JITTER_KERNEL}: params must be [${n}, ${JITTER_PARAM_COUNT}], got [${params.shape.join(', ')}]`,
    );
  }
  const backend = args.backend as unknown as {
    makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
    typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  };
  const out = backend.makeOutput([...x.shape], 'float32');
  const data = backend.typedArrayFromHeap(out);
  data.set(backend.typedArrayFromHeap(x));
  colorJitterInPlace(data, x.shape, backend.typedArrayFromHeap(params).slice());
  return out;
}
