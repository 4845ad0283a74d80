import * as tf from '@tensorflow/tfjs';
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import type { KernelArgs } from '../backend_ops';
import { COLOR_JITTER_KERNEL, JITTER_PARAM_COUNT } from '../ops';
import { runProgram } from '../webgpu/program';

/** Threads per workgroup; one workgroup owns one image. */
const THREADS = 256;

/**
 * Colour jitter and grayscale (ops.ts: COLOR_JITTER_KERNEL, what the augmentation applies after the crop) for a
 * whole batch in one dispatch, one workgroup per image. The reference runs ~460 tfjs ops per view (each jitter op on a gathered
 * sub-batch, the HSV round trip alone ~40), which on a GPU cost more CPU time to issue than the GPU spent on
 * them. Per image, params row (JITTER_PARAM_COUNT values): [jitter on, order 0..3 (0 brightness, 1 contrast,
 * 2 saturation, 3 hue), brightness, contrast, saturation, hue shift, grayscale]. Each thread owns the pixels
 * thread, thread + 256, ... and applies the four ops in the image's order to them in place in `result`;
 * contrast needs the mean luma of the image as it is at that point, so every position ends with a
 * workgroup reduction (run at every position, whatever the op, to keep the barriers in uniform control flow).
 * Same formulas and float32 operation order as the reference (torchvision's), so they agree to float rounding.
 */
class ColorJitterProgram implements WebGPUProgram {
  variableNames = ['x', 'params'];
  outputShape: number[];
  shaderKey = 'projectColorJitter';
  // not flat: the kernel indexes images by workgroupId itself
  dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [THREADS, 1, 1];

  constructor(shape: number[]) {
    this.outputShape = shape;
    this.dispatch = [shape[0], 1, 1];
  }

  getUserCode(): string {
    return `
    var<workgroup> partial : array<f32, ${THREADS}>;

    fn lumaAt(base : i32, channels : i32) -> f32 {
      if (channels == 1) {
        return result[base];
      }
      return (result[base] * 0.299 + result[base + 1] * 0.587) + result[base + 2] * 0.114;
    }

    fn hueShift(base : i32, shift : f32) {
      let r = result[base];
      let g = result[base + 1];
      let b = result[base + 2];
      let maxc = max(max(r, g), b);
      let minc = min(min(r, g), b);
      let grey = maxc == minc;
      let chroma = maxc - minc;
      let saturation = chroma / select(maxc, 1.0, grey);
      let chromaDivisor = select(chroma, 1.0, grey);
      let rc = (maxc - r) / chromaDivisor;
      let gc = (maxc - g) / chromaDivisor;
      let bc = (maxc - b) / chromaDivisor;
      let maxIsR = maxc == r;
      let maxIsG = maxc == g && !maxIsR;
      let maxIsB = maxc != g && !maxIsR;
      let hueSixths = (select(0.0, bc - gc, maxIsR) + select(0.0, 2.0 + (rc - bc), maxIsG)) + select(0.0, 4.0 + (gc - rc), maxIsB);
      let shifted = (hueSixths / 6.0 + shift) + 2.0;
      let hue = shifted - floor(shifted);
      let sector6 = hue * 6.0;
      let sectorFloor = floor(sector6);
      let within = sector6 - sectorFloor;
      let sector = i32(sectorFloor - 6.0 * floor(sectorFloor / 6.0));
      let value = maxc;
      let p = clamp(value * (1.0 - saturation), 0.0, 1.0);
      let q = clamp(value * (1.0 - saturation * within), 0.0, 1.0);
      let t = clamp(value * (1.0 - saturation * (1.0 - within)), 0.0, 1.0);
      var rgb = vec3<f32>(value, t, p);
      if (sector == 1) { rgb = vec3<f32>(q, value, p); }
      if (sector == 2) { rgb = vec3<f32>(p, value, t); }
      if (sector == 3) { rgb = vec3<f32>(p, q, value); }
      if (sector == 4) { rgb = vec3<f32>(t, p, value); }
      if (sector == 5) { rgb = vec3<f32>(value, p, q); }
      result[base] = rgb.x;
      result[base + 1] = rgb.y;
      result[base + 2] = rgb.z;
    }

    fn applyOp(base : i32, channels : i32, op : i32, row : i32, meanLuma : f32) {
      if (op == 0) {
        let f = params[row + 5];
        for (var c = 0; c < channels; c++) {
          result[base + c] = clamp(result[base + c] * f, 0.0, 1.0);
        }
      } else if (op == 1) {
        let f = params[row + 6];
        for (var c = 0; c < channels; c++) {
          result[base + c] = clamp(f * result[base + c] + (1.0 - f) * meanLuma, 0.0, 1.0);
        }
      } else if (op == 2 && channels == 3) {
        let f = params[row + 7];
        let luma = lumaAt(base, 3);
        for (var c = 0; c < 3; c++) {
          result[base + c] = clamp(f * result[base + c] + (1.0 - f) * luma, 0.0, 1.0);
        }
      } else if (op == 3 && channels == 3 && params[row + 8] != 0.0) {
        // a zero shift is skipped, as in the reference (the HSV round trip is exact only up to float error)
        hueShift(base, params[row + 8]);
      }
    }

    fn main() {
      let image = i32(workgroupId.x);
      let thread = i32(localIndex);
      let pixels = uniforms.xShape.y * uniforms.xShape.z;
      let channels = uniforms.xShape.w;
      let first = image * pixels * channels;
      let row = image * ${JITTER_PARAM_COUNT};
      let jitterOn = params[row] > 0.5;
      for (var p = thread; p < pixels; p += ${THREADS}) {
        for (var c = 0; c < channels; c++) {
          result[first + p * channels + c] = x[first + p * channels + c];
        }
      }
      for (var k = 0; k < 4; k++) {
        let op = i32(params[row + 1 + k]);
        var sum = 0.0;
        for (var p = thread; p < pixels; p += ${THREADS}) {
          sum += lumaAt(first + p * channels, channels);
        }
        partial[thread] = sum;
        workgroupBarrier();
        for (var stride = ${THREADS / 2}; stride > 0; stride >>= 1u) {
          if (thread < stride) {
            partial[thread] += partial[thread + stride];
          }
          workgroupBarrier();
        }
        let meanLuma = partial[0] / f32(pixels);
        // every thread has read the sum before the next position overwrites partial
        workgroupBarrier();
        if (jitterOn) {
          for (var p = thread; p < pixels; p += ${THREADS}) {
            applyOp(first + p * channels, channels, op, row, meanLuma);
          }
        }
      }
      if (channels == 3 && params[row + 9] > 0.5) {
        for (var p = thread; p < pixels; p += ${THREADS}) {
          let luma = lumaAt(first + p * 3, 3);
          result[first + p * 3] = luma;
          result[first + p * 3 + 1] = luma;
          result[first + p * 3 + 2] = luma;
        }
      }
    }
    `;
  }
}

/** Kernel COLOR_JITTER_KERNEL on webgpu: x [N, H, W, C] (C = 1 or 3), params [N, JITTER_PARAM_COUNT]. */
export function colorJitterWebGPU(args: KernelArgs): tf.TensorInfo {
  const { x, params } = args.inputs as { x: tf.TensorInfo; params: tf.TensorInfo };
  const [n, , , channels] = x.shape;
  if (x.shape.length !== 4 || (channels !== 1 && channels !== 3)) {
    throw new Error(`${COLOR_JITTER_KERNEL}: x must be [N, H, W, 1 or 3], got [${x.shape.join(', ')}]`);
  }
  if (params.shape.join(',') !== `${n},${JITTER_PARAM_COUNT}`) {
    throw new Error(
      `${COLOR_JITTER_KERNEL}: params must be [${n}, ${JITTER_PARAM_COUNT}], got [${params.shape.join(', ')}]`,
    );
  }
  return runProgram(args.backend as tf.KernelBackend, new ColorJitterProgram(x.shape), [x, params], []);
}
