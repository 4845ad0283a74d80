import * as tf from '@tensorflow/tfjs';

// The project's own tfjs ops (kernel names tfjs does not have). For each: its kernel name, its attributes, a
// reference implementation in tfjs ops, the function callers use (the kernel where the active backend registers
// one, the reference otherwise) and, where the tape needs one, its gradient. The kernels are in the op's folder
// (adam_step/, relu_grad/, batch_norm_train/, color_jitter/, fused_ntxent/); install.ts registers them; and
// docs/kernels.md describes them. Everything here depends on tfjs only.

/** Whether the active backend has a kernel registered under `kernelName`. */
export function kernelRegistered(kernelName: string): boolean {
  return tf.getKernel(kernelName, tf.getBackend()) != null;
}

// ---- ProjectAdamStep ---------------------------------------------------------------------------------------

/**
 * One Adam/AdamW update of one variable: inputs w, g, m, v (float32, one shape), outputs [m', v', w'], the same
 * float32 math as adamStepReference. Registered for wasm (adam_step/wasm.ts) and webgpu (adam_step/webgpu.ts).
 */
export const ADAM_STEP_KERNEL = 'ProjectAdamStep';

/** ADAM_STEP_KERNEL's attributes: c1 = 1 - beta1^t, c2 = 1 - beta2^t; l2 adds l2 * w to g; decay = lr * wd (AdamW). */
export interface AdamStepAttrs {
  l2: number;
  beta1: number;
  beta2: number;
  c1: number;
  c2: number;
  lr: number;
  eps: number;
  decay: number;
}

/**
 * Adam/AdamW moments and weights after one step, op by op (each op a kernel of the active backend, ~17 of them):
 *
 *   gd = g + l2 · w;  m' = m · β1 + gd · (1 − β1);  v' = v · β2 + gd² · (1 − β2)
 *   w' = (w − (m' / c1) / (√(v' / c2) + ε) · lr) − w · decay
 */
export function adamStepReference(
  w: tf.Tensor,
  g: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  a: AdamStepAttrs,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const gd = a.l2 !== 0 ? tf.add(g, tf.mul(w, a.l2)) : g;
  const mNext = tf.add(tf.mul(m, a.beta1), tf.mul(gd, 1 - a.beta1));
  const vNext = tf.add(tf.mul(v, a.beta2), tf.mul(tf.square(gd), 1 - a.beta2));
  const mHat = tf.div(mNext, a.c1);
  const vHat = tf.div(vNext, a.c2);
  let next = tf.sub(w, tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), a.eps)), a.lr));
  if (a.decay !== 0) next = tf.sub(next, tf.mul(w, a.decay));
  return [mNext, vNext, next];
}

/** One Adam/AdamW step: the fused kernel where the active backend registers it (float32), else the reference. */
export function adamStep(
  w: tf.Tensor,
  g: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  attrs: AdamStepAttrs,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const fused = kernelRegistered(ADAM_STEP_KERNEL) && [w, g, m, v].every((t) => t.dtype === 'float32');
  if (!fused) return adamStepReference(w, g, m, v, attrs);
  return tf
    .engine()
    .runKernel(ADAM_STEP_KERNEL, { w, g, m, v }, attrs as unknown as tf.NamedAttrMap) as unknown as [
    tf.Tensor,
    tf.Tensor,
    tf.Tensor,
  ];
}

// ---- ProjectReluGrad ---------------------------------------------------------------------------------------

/**
 * The ReLU gradient dy · step(x) in one pass: inputs dy and x (float32, one shape), no attributes. Registered for
 * wasm (relu_grad/wasm.ts); the Relu gradient (relu_grad/gradient.ts) runs it through reluGrad.
 */
export const RELU_GRAD_KERNEL = 'ProjectReluGrad';

/** dy · step(x) with tfjs' Step (1 where x > 0, NaN where x is NaN, else 0): Step, Cast and Multiply. */
export function reluGradReference(dy: tf.Tensor, x: tf.Tensor): tf.Tensor {
  return tf.mul(dy, tf.cast(tf.step(x), 'float32'));
}

/** The ReLU gradient: RELU_GRAD_KERNEL where the active backend registers it (float32), else the reference. */
export function reluGrad(dy: tf.Tensor, x: tf.Tensor): tf.Tensor {
  const fused = kernelRegistered(RELU_GRAD_KERNEL) && dy.dtype === 'float32' && x.dtype === 'float32';
  if (fused) return tf.engine().runKernel(RELU_GRAD_KERNEL, { dy, x }) as tf.Tensor;
  return reluGradReference(dy, x);
}

// ---- BatchNorm in training mode: ProjectMoments, ProjectBatchNormGradSums, ProjectBatchNormDx ---------------

/**
 * Input x [..., C], outputs the per-channel mean and biased variance [C] over every other axis (tf.moments'
 * values) in fewer passes than tf.moments. Registered for wasm (batch_norm_train/wasm.ts).
 */
export const MOMENTS_KERNEL = 'ProjectMoments';

/**
 * Inputs dy, x [..., C] and mean [C]; output [2, C] = [Σ dy; Σ dy·(x − mean)] over every axis but the last, in
 * one pass over dy and x. Registered for wasm and webgpu (batch_norm_train/).
 */
export const BATCHNORM_GRAD_SUMS_KERNEL = 'ProjectBatchNormGradSums';

/**
 * Inputs dy, x [..., C] and per-channel mean, a, b, c [C]; output dx = dy·a + (x − mean)·b + c, BatchNorm's
 * training-mode input gradient in one pass. Registered for wasm and webgpu (batch_norm_train/).
 */
export const BATCHNORM_DX_KERNEL = 'ProjectBatchNormDx';

/** tf.moments over every axis but the last, through MOMENTS_KERNEL where the active backend registers it. */
export function channelMoments(x: tf.Tensor, axes: number[]): { mean: tf.Tensor; variance: tf.Tensor } {
  if (kernelRegistered(MOMENTS_KERNEL) && x.dtype === 'float32') {
    const [mean, variance] = tf.engine().runKernel(MOMENTS_KERNEL, { x }) as tf.Tensor[];
    return { mean, variance };
  }
  return tf.moments(x, axes);
}

/** [Σ dy, Σ dy·(x − mean)] over `channelAxes` with tfjs ops (x − mean, a product, two reductions). */
export function batchNormGradSumsReference(
  dy: tf.Tensor,
  x: tf.Tensor,
  mean: tf.Tensor,
  channelAxes: number[],
): [tf.Tensor, tf.Tensor] {
  return [tf.sum(dy, channelAxes), tf.sum(tf.mul(dy, tf.sub(x, mean)), channelAxes)];
}

/**
 * [Σ dy, Σ dy·(x − mean)] per channel over `channelAxes` (every axis but the channel axis): through
 * BATCHNORM_GRAD_SUMS_KERNEL where the active backend registers it and the channels are last, else the reference.
 */
export function batchNormGradSums(
  dy: tf.Tensor,
  x: tf.Tensor,
  mean: tf.Tensor,
  channelAxes: number[],
): [tf.Tensor, tf.Tensor] {
  const channelsLast = mean.shape[0] === x.shape[x.rank - 1];
  if (channelsLast && kernelRegistered(BATCHNORM_GRAD_SUMS_KERNEL)) {
    const sums = tf.engine().runKernel(BATCHNORM_GRAD_SUMS_KERNEL, { dy, x, mean }, {}) as tf.Tensor2D;
    const [sumDy, sumDyCentred] = tf.unstack(sums);
    sums.dispose();
    return [sumDy, sumDyCentred];
  }
  return batchNormGradSumsReference(dy, x, mean, channelAxes);
}

/** dy·a + (x − mean)·b + c with tfjs ops (five full-size passes). */
export function batchNormDxReference(
  dy: tf.Tensor,
  x: tf.Tensor,
  mean: tf.Tensor,
  a: tf.Tensor,
  b: tf.Tensor,
  c: tf.Tensor,
): tf.Tensor {
  return tf.add(tf.add(tf.mul(dy, a), tf.mul(tf.sub(x, mean), b)), c);
}

/** dy·a + (x − mean)·b + c: BATCHNORM_DX_KERNEL where the active backend registers it (float32), else the reference. */
export function batchNormDx(
  dy: tf.Tensor,
  x: tf.Tensor,
  mean: tf.Tensor,
  a: tf.Tensor,
  b: tf.Tensor,
  c: tf.Tensor,
): tf.Tensor {
  if (kernelRegistered(BATCHNORM_DX_KERNEL) && dy.dtype === 'float32') {
    return tf.engine().runKernel(BATCHNORM_DX_KERNEL, { dy, x, mean, a, b, c }) as tf.Tensor;
  }
  return batchNormDxReference(dy, x, mean, a, b, c);
}

/**
 * BatchNorm in training mode over every axis but the last, as one op with its own gradient:
 *
 *   mean, variance = moments(x) (biased variance, as tf.moments), k = 1 / √(variance + ε)
 *   y = (x − mean)·k·γ + β
 *
 * and, with S1 = Σ dy and S2 = Σ dy·(x − mean) per channel over the M = x.size / C values of each channel,
 *
 *   dx = k·γ·dy − k³·γ·S2 / M · (x − mean) − k·γ·S1 / M,   dγ = k·S2,   dβ = S1
 *
 * (the gradient through the batch statistics included). The values are tfjs-layers' (tf.moments, then
 * tf.batchNorm); the gradient is the same function's, but tfjs reaches it through the tape of moments' Mean, Sub,
 * Cast, Square and Mean and BatchNorm's own gradient: about fourteen full-size passes a layer on wasm, where this
 * takes two (S1 and S2 together, then dx) with the kernels registered (BATCHNORM_GRAD_SUMS_KERNEL and
 * BATCHNORM_DX_KERNEL), and tfjs ops otherwise. mean and variance are returned for the moving averages (the
 * caller disposes them); they carry no gradient.
 */
export function batchNormTraining(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  const C = x.shape[x.rank - 1];
  if (x.rank < 2 || gamma.size !== C || beta.size !== C || gamma.rank !== 1 || beta.rank !== 1) {
    throw new Error(
      `batchNormTraining: x [${x.shape.join(', ')}] needs gamma and beta of shape [${C}], got ` +
        `[${gamma.shape.join(', ')}] and [${beta.shape.join(', ')}]`,
    );
  }
  const axes = Array.from({ length: x.rank - 1 }, (_, axis) => axis);
  let stats: [tf.Tensor, tf.Tensor] | null = null;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, scale, offset] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const { mean, variance } = channelMoments(input, axes);
    const y = tf.batchNorm(input, mean, variance, offset, scale, epsilon);
    save([input, mean, variance, scale]);
    // kept past the op's own tidy for the caller (who disposes them)
    stats = [tf.keep(mean), tf.keep(variance)];
    return {
      value: y,
      gradFunc: (dy, saved) => batchNormTrainingGrad(dy as tf.Tensor, saved, epsilon, axes),
    };
  });
  const y = op(x, gamma, beta);
  const [mean, variance] = stats!;
  return { y, mean, variance };
}

function batchNormTrainingGrad(
  dy: tf.Tensor,
  saved: tf.Tensor[],
  epsilon: number,
  axes: number[],
): tf.Tensor[] {
  const [x, mean, variance, gamma] = saved;
  const count = x.size / mean.size;
  const k = tf.rsqrt(tf.add(variance, epsilon));
  const kGamma = tf.mul(k, gamma);
  const [s1, s2] = batchNormGradSums(dy, x, mean, axes);
  const a = kGamma;
  const b = tf.mul(tf.mul(kGamma, tf.square(k)), tf.div(s2, -count));
  const c = tf.mul(kGamma, tf.div(s1, -count));
  const dx = batchNormDx(dy, x, mean, a, b, c);
  return [dx, tf.mul(k, s2), s1];
}

// ---- ProjectColorJitter ------------------------------------------------------------------------------------

/**
 * The colour jitter and grayscale of a batch in one pass (torchvision's ColorJitter and RandomGrayscale with the
 * random choices already drawn): inputs x [N, H, W, C] (float32 in [0, 1], C = 1 or 3) and params
 * [N, JITTER_PARAM_COUNT], output x's shape. A params row: [jitter on (0/1), order (4 op indices: 0 brightness,
 * 1 contrast, 2 saturation, 3 hue), brightness, contrast, saturation, hue shift (turns), grayscale (0/1)]; the
 * factors are 1 (and the shift 0) when jitter is off. Registered for wasm and webgpu (color_jitter/).
 */
export const COLOR_JITTER_KERNEL = 'ProjectColorJitter';
export const JITTER_PARAM_COUNT = 10;

/** ITU-R BT.601 luma weights for R, G, B. */
export const LUMA_WEIGHTS: [number, number, number] = [0.299, 0.587, 0.114];

/** Per-image values as a [N, 1, 1, 1] tensor so they broadcast over height, width and channels. */
function perImage(values: number[]): tf.Tensor4D {
  return tf.tensor4d(values, [values.length, 1, 1, 1]);
}

/** Luma Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601) as [N, H, W, 1]; a 1-channel image is its own luma. */
export function rgbToGrayscale(images: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    if (images.shape[3] === 1) return images.clone();
    return tf.sum(tf.mul(images, tf.tensor1d(LUMA_WEIGHTS)), -1, true) as tf.Tensor4D;
  });
}

/** torchvision adjust_brightness: clip(f x, 0, 1), one factor per image. */
export function adjustBrightness(images: tf.Tensor4D, factors: number[]): tf.Tensor4D {
  return tf.tidy(() => tf.clipByValue(tf.mul(images, perImage(factors)), 0, 1) as tf.Tensor4D);
}

/** torchvision adjust_contrast: clip(f x + (1 - f) mean(Y), 0, 1), mean of the image's luma Y over all pixels. */
export function adjustContrast(images: tf.Tensor4D, factors: number[]): tf.Tensor4D {
  return tf.tidy(() => {
    const f = perImage(factors);
    const meanLuma = tf.mean(rgbToGrayscale(images), [1, 2, 3], true);
    return tf.clipByValue(tf.add(tf.mul(f, images), tf.mul(tf.sub(1, f), meanLuma)), 0, 1) as tf.Tensor4D;
  });
}

/** torchvision adjust_saturation: clip(f x + (1 - f) Y, 0, 1) with the per-pixel luma Y; no-op for 1 channel. */
export function adjustSaturation(images: tf.Tensor4D, factors: number[]): tf.Tensor4D {
  return tf.tidy(() => {
    if (images.shape[3] === 1) return images.clone();
    const f = perImage(factors);
    return tf.clipByValue(
      tf.add(tf.mul(f, images), tf.mul(tf.sub(1, f), rgbToGrayscale(images))),
      0,
      1,
    ) as tf.Tensor4D;
  });
}

/**
 * torchvision adjust_hue, in HSV: (h, s, v) = hsv(x), h <- frac(h + shift), x <- rgb(h, s, v); shift in turns
 * (0.5 = 180 degrees). Same formulas as torchvision's _rgb2hsv / _hsv2rgb, so it matches it up to float error.
 * No-op for 1-channel images.
 */
export function adjustHue(images: tf.Tensor4D, shifts: number[]): tf.Tensor4D {
  return tf.tidy(() => {
    if (images.shape[3] === 1) return images.clone();
    // each channel as Σ_k x_k · [k = c] over the last axis (exactly x_c): tfjs-backend-wasm splits along the last
    // axis element by element (SplitV, ~4.5 ms a call on a W2 view batch)
    const [r, g, b] = [0, 1, 2].map((c) => tf.sum(tf.mul(images, unitVector(c, 3)), -1, true));
    const maxc = tf.max(images, -1, true);
    const minc = tf.min(images, -1, true);
    const grey = tf.equal(maxc, minc);
    const chroma = tf.sub(maxc, minc);
    const ones = tf.onesLike(maxc);
    // grey pixels have no hue; dividing by 1 there keeps everything finite (as torchvision does)
    const saturation = tf.div(chroma, tf.where(grey, ones, maxc));
    const chromaDivisor = tf.where(grey, ones, chroma);
    const rc = tf.div(tf.sub(maxc, r), chromaDivisor);
    const gc = tf.div(tf.sub(maxc, g), chromaDivisor);
    const bc = tf.div(tf.sub(maxc, b), chromaDivisor);
    const maxIsR = tf.equal(maxc, r);
    const maxIsG = tf.logicalAnd(tf.equal(maxc, g), tf.logicalNot(maxIsR));
    const maxIsB = tf.logicalAnd(tf.logicalNot(tf.equal(maxc, g)), tf.logicalNot(maxIsR));
    const hueSixths = tf.addN([
      tf.mul(tf.cast(maxIsR, 'float32'), tf.sub(bc, gc)),
      tf.mul(tf.cast(maxIsG, 'float32'), tf.add(2, tf.sub(rc, bc))),
      tf.mul(tf.cast(maxIsB, 'float32'), tf.add(4, tf.sub(gc, rc))),
    ]);
    const fraction = (x: tf.Tensor) => tf.sub(x, tf.floor(x));
    // hue in turns, shifted; +2 keeps the argument positive so frac() is the usual modulo 1
    const hue = fraction(tf.add(tf.add(tf.div(hueSixths, 6), perImage(shifts)), 2));
    const value = maxc;

    const sector6 = tf.mul(hue, 6);
    const sectorFloor = tf.floor(sector6);
    const within = tf.sub(sector6, sectorFloor);
    const sector = tf.cast(tf.mod(sectorFloor, 6), 'int32');
    const p = tf.clipByValue(tf.mul(value, tf.sub(1, saturation)), 0, 1);
    const q = tf.clipByValue(tf.mul(value, tf.sub(1, tf.mul(saturation, within))), 0, 1);
    const t = tf.clipByValue(tf.mul(value, tf.sub(1, tf.mul(saturation, tf.sub(1, within)))), 0, 1);
    // sector k in 0..5 picks (R, G, B) from these six candidates each: Σ_k [sector = k] · candidate_k, where
    // every other term is an exact 0. (Not a concat along the channel axis and a sum: tfjs-backend-wasm
    // concatenates [n, h, w, 1] tensors along the last axis element by element, 8-36 ms a call in a W2 step.)
    const inSector = Array.from({ length: 6 }, (_, k) => tf.cast(tf.equal(sector, k), 'float32'));
    const pick = (candidates: tf.Tensor[]) => tf.addN(candidates.map((c, k) => tf.mul(inSector[k], c)));
    return stackChannels([
      pick([value, q, p, p, t, value]),
      pick([t, value, value, q, p, p]),
      pick([p, p, t, value, value, q]),
    ]);
  });
}

/** e_c: the c-th unit vector of length `count` (1 at c, 0 elsewhere). */
function unitVector(c: number, count: number): tf.Tensor1D {
  return tf.tensor1d(Array.from({ length: count }, (_, k) => (k === c ? 1 : 0)));
}

/**
 * [n, h, w, 1] channels into one [n, h, w, C] image, as Σ_c channel_c · e_c (e_c broadcast along the last
 * axis): the same values as a concat along the last axis (the other terms are exact zeros), without
 * tfjs-backend-wasm's element-by-element last-axis Concat.
 */
function stackChannels(channels: tf.Tensor[]): tf.Tensor4D {
  return tf.addN(
    channels.map((channel, c) => tf.mul(channel, unitVector(c, channels.length))),
  ) as tf.Tensor4D;
}

/** Grayscale as a colour image: luma replicated to every channel. */
function grayscaleReplicated(images: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.tile(rgbToGrayscale(images), [1, 1, 1, images.shape[3]]) as tf.Tensor4D);
}

function checkJitterInputs(x: tf.Tensor4D, params: ArrayLike<number>): void {
  if (params.length !== x.shape[0] * JITTER_PARAM_COUNT) {
    throw new Error(
      `${COLOR_JITTER_KERNEL}: ${params.length} parameters for a batch of ${x.shape[0]} images; ` +
        `expected ${JITTER_PARAM_COUNT} per image`,
    );
  }
}

/**
 * COLOR_JITTER_KERNEL as tfjs ops: the jitter ops in each image's own order (at position k, op o is applied to
 * the images whose order has o at k, gathered into a sub-batch), each clipped to [0, 1], then grayscale; a zero
 * hue shift is skipped (the HSV round trip is only exact up to float error). `params` are the kernel's params rows
 * on the host. Returns a new tensor, or x itself when no image takes any op; x is not disposed.
 */
export function colorJitterReference(x: tf.Tensor4D, params: ArrayLike<number>): tf.Tensor4D {
  checkJitterInputs(x, params);
  const n = x.shape[0];
  const images = Array.from({ length: n }, (_, i) => i);
  const at = (image: number, field: number) => params[image * JITTER_PARAM_COUNT + field];
  let current = x;
  // Each step replaces `current` inside its own tidy so at most two full batches are alive at a time.
  const replace = (step: (batch: tf.Tensor4D) => tf.Tensor4D) => {
    const next = tf.tidy(() => step(current));
    if (current !== x) current.dispose();
    current = next;
  };
  // An op runs only on the images that take it (gather, transform, then put every image back in place with
  // one gather over [untouched, transformed]): each image pays for its own four ops, not 16, and no tf.where.
  const onSubset = (
    selected: boolean[],
    transform: (subset: tf.Tensor4D, chosen: number[]) => tf.Tensor4D,
  ) => {
    const chosen = images.filter((i) => selected[i]);
    if (chosen.length === 0) return;
    if (chosen.length === n) {
      replace((batch) => transform(batch, chosen));
      return;
    }
    const untouched = images.filter((i) => !selected[i]);
    const placement = new Int32Array(n);
    [...untouched, ...chosen].forEach((image, slot) => (placement[image] = slot));
    replace((batch) => {
      const changed = transform(tf.gather(batch, chosen), chosen);
      return tf.gather(tf.concat([tf.gather(batch, untouched), changed]), placement) as tf.Tensor4D;
    });
  };
  const factors = (field: number) => (chosen: number[]) => chosen.map((i) => at(i, field));
  const [brightness, contrast, saturation, hue] = [5, 6, 7, 8].map(factors);
  for (let position = 0; position < 4; position++) {
    // the op at this position of image i's order, when its jitter is on
    const opAt = (i: number, op: number) => at(i, 0) > 0.5 && at(i, 1 + position) === op;
    onSubset(
      images.map((i) => opAt(i, 0)),
      (c, chosen) => adjustBrightness(c, brightness(chosen)),
    );
    onSubset(
      images.map((i) => opAt(i, 1)),
      (c, chosen) => adjustContrast(c, contrast(chosen)),
    );
    if (x.shape[3] === 3) {
      onSubset(
        images.map((i) => opAt(i, 2)),
        (c, chosen) => adjustSaturation(c, saturation(chosen)),
      );
      onSubset(
        images.map((i) => opAt(i, 3) && at(i, 8) !== 0),
        (c, chosen) => adjustHue(c, hue(chosen)),
      );
    }
  }
  if (x.shape[3] === 3) {
    onSubset(
      images.map((i) => at(i, 9) > 0.5),
      (c) => grayscaleReplicated(c),
    );
  }
  return current;
}

/**
 * The colour jitter and grayscale of a batch: COLOR_JITTER_KERNEL where the active backend registers it, else the
 * reference (~460 small ops per view). x [N, H, W, C] float32, params the rows described at COLOR_JITTER_KERNEL.
 * Returns a new tensor, or x itself when the reference has nothing to do; x is not disposed.
 */
export function colorJitter(x: tf.Tensor4D, params: Float32Array): tf.Tensor4D {
  checkJitterInputs(x, params);
  if (!kernelRegistered(COLOR_JITTER_KERNEL)) return colorJitterReference(x, params);
  return tf.tidy(() => {
    const rows = tf.tensor2d(params, [x.shape[0], JITTER_PARAM_COUNT]);
    return tf.engine().runKernel(COLOR_JITTER_KERNEL, { x, params: rows }, {}) as tf.Tensor4D;
  });
}

// ---- ProjectFusedNtxentTwoView and its gradient ------------------------------------------------------------

/**
 * The two-view NT-Xent (SimCLR) per anchor: input z [R = 2N, D] (unit rows, the two views stacked, row r's
 * positive at p(r) = (r + N) mod R), attrs { tau }; output stats [2, R] = [loss_r; lse_r] with
 * lse_r = LSE_{k ≠ r}(z_r·z_k / τ) and loss_r = lse_r − z_r·z_p(r) / τ. Registered for webgpu
 * (fused_ntxent/webgpu.ts); src/losses/ntxent.ts uses it for two views where it is registered.
 */
export const FUSED_NTXENT_KERNEL = 'ProjectFusedNtxentTwoView';
/** Its gradient, a kernel of its own so that the tape can run it on tensors: inputs z, stats, dstats; output dz. */
export const FUSED_NTXENT_GRAD_KERNEL = 'ProjectFusedNtxentTwoViewGrad';

export interface FusedNtxentAttrs {
  tau: number;
}

/** [N..2N) then [0..N): the row of each row's other view. */
function partnerRows(rows: number): tf.Tensor1D {
  const n = rows / 2;
  return tf.concat([tf.range(n, 2 * n, 1, 'int32'), tf.range(0, n, 1, 'int32')]) as tf.Tensor1D;
}

/** FUSED_NTXENT_KERNEL's stats [2, R] from the full similarity matrix, its mask and logSumExp (tfjs ops). */
export function fusedNtxentTwoViewReference(z: tf.Tensor2D, tau: number): tf.Tensor2D {
  return tf.tidy(() => {
    const rows = z.shape[0];
    const logits = tf.div(tf.matMul(z, z, false, true), tau);
    const lse = tf.logSumExp(tf.add(logits, tf.mul(tf.eye(rows), -1e9)), 1);
    const positive = tf.div(tf.sum(tf.mul(z, tf.gather(z, partnerRows(rows))), 1), tau);
    return tf.stack([tf.sub(lse, positive), lse]) as tf.Tensor2D;
  });
}

/** The stats [2, R] = [loss_r; lse_r]: FUSED_NTXENT_KERNEL where the active backend registers it, else the reference. */
export function fusedNtxentTwoView(z: tf.Tensor2D, tau: number): tf.Tensor2D {
  if (!kernelRegistered(FUSED_NTXENT_KERNEL)) return fusedNtxentTwoViewReference(z, tau);
  return tf.engine().runKernel(FUSED_NTXENT_KERNEL, { z }, { tau }) as tf.Tensor2D;
}

/**
 * FUSED_NTXENT_GRAD_KERNEL as tfjs ops: for upstream gradients g = dL/dloss and h = dL/dlse (the rows of dstats),
 * S_rk = z_r·z_k / τ and P_rk = exp(S_rk − lse_r) for k ≠ r (0 for k = r),
 *
 *   dz_r = (1/τ) [ Σ_k ((g_r + h_r) P_rk + (g_k + h_k) P_kr) z_k − (g_r + g_p(r)) z_p(r) ]
 */
export function fusedNtxentTwoViewGradReference(
  z: tf.Tensor2D,
  stats: tf.Tensor2D,
  dstats: tf.Tensor2D,
  tau: number,
): tf.Tensor2D {
  return tf.tidy(() => {
    const rows = z.shape[0];
    const [g, h] = tf.unstack(dstats);
    const lse = tf.reshape(tf.slice(stats, [1, 0], [1, rows]), [rows, 1]);
    const logits = tf.div(tf.matMul(z, z, false, true), tau);
    const softmax = tf.mul(tf.exp(tf.sub(logits, lse)), tf.sub(1, tf.eye(rows)));
    const weighted = tf.mul(tf.reshape(tf.add(g, h), [rows, 1]), softmax);
    const weights = tf.add(weighted, tf.transpose(weighted));
    const partner = partnerRows(rows);
    const positive = tf.mul(tf.reshape(tf.add(g, tf.gather(g, partner)), [rows, 1]), tf.gather(z, partner));
    return tf.div(tf.sub(tf.matMul(weights, z), positive), tau) as tf.Tensor2D;
  });
}

/** dz of the stats: FUSED_NTXENT_GRAD_KERNEL where the active backend registers it, else the reference. */
export function fusedNtxentTwoViewGrad(
  z: tf.Tensor2D,
  stats: tf.Tensor2D,
  dstats: tf.Tensor2D,
  tau: number,
): tf.Tensor2D {
  if (!kernelRegistered(FUSED_NTXENT_GRAD_KERNEL))
    return fusedNtxentTwoViewGradReference(z, stats, dstats, tau);
  return tf.engine().runKernel(FUSED_NTXENT_GRAD_KERNEL, { z, stats, dstats }, {
    tau,
  } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

/** Tape gradient of FUSED_NTXENT_KERNEL: saves z and the stats output, runs fusedNtxentTwoViewGrad. */
export const fusedNtxentGradConfig: tf.GradConfig = {
  kernelName: FUSED_NTXENT_KERNEL,
  inputsToSave: ['z'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [z, stats] = saved as tf.Tensor2D[];
    const { tau } = attrs as unknown as FusedNtxentAttrs;
    return { z: () => fusedNtxentTwoViewGrad(z, stats, dy as tf.Tensor2D, tau) };
  },
};

/**
 * Registers the gradients of the ops above that the tape needs (their kernels run outside it: the fused NT-Xent
 * forward); tfjs keys gradients by kernel name for every backend, and these names are the project's, so once is
 * enough (idempotent).
 */
export function registerOpGradients(): void {
  if (tf.getGradient(FUSED_NTXENT_KERNEL) == null) tf.registerGradient(fusedNtxentGradConfig);
}
