// Test support for the wasm/cpu kernels (not shipped code): one set of conv geometries for both gradients, and a
// runner that computes the same thing on cpu and on wasm.
import * as tf from '@tensorflow/tfjs';

/** Runs `f` on the cpu backend, then on wasm (which must have started); returns both results. */
export async function onCpuAndWasm<T>(f: () => T): Promise<{ cpu: T; wasm: T }> {
  await tf.setBackend('cpu');
  const cpu = f();
  await tf.setBackend('wasm');
  const wasm = f();
  return { cpu, wasm };
}

export type ConvPad =
  'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

export interface ConvCase {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  stride: number | [number, number];
  pad: ConvPad;
}

/**
 * Geometries both gradients must get right: 'same'/'valid'/numeric/explicit padding, strides 1-3, odd and even
 * sizes, non-square and even filters, 1x1 shortcuts, 1x1 outputs. Numeric pads use square filters: stock wasm
 * Conv2D (forward) corrupts memory on numeric pad + non-square filter.
 */
export const CONV_CASES: ConvCase[] = [
  { x: [2, 6, 6, 3], filter: [3, 3, 3, 4], stride: 1, pad: 'same' },
  { x: [2, 6, 6, 3], filter: [3, 3, 3, 4], stride: 1, pad: 'valid' },
  { x: [3, 7, 8, 2], filter: [3, 3, 2, 5], stride: 2, pad: 'same' },
  { x: [3, 8, 8, 2], filter: [3, 3, 2, 5], stride: 2, pad: 'same' }, // even size: 'same' pads 0 top, 1 bottom
  { x: [3, 7, 8, 2], filter: [3, 3, 2, 5], stride: 2, pad: 'valid' },
  { x: [2, 8, 8, 4], filter: [1, 1, 4, 3], stride: 2, pad: 'same' }, // ResNet projection shortcut
  { x: [2, 9, 9, 4], filter: [1, 1, 4, 3], stride: 2, pad: 'valid' },
  { x: [1, 9, 7, 2], filter: [5, 3, 2, 2], stride: 2, pad: 'same' }, // non-square filter
  { x: [1, 9, 7, 2], filter: [2, 4, 2, 3], stride: [1, 3], pad: 'same' }, // even filter, unequal strides
  { x: [2, 6, 5, 2], filter: [3, 3, 2, 3], stride: 1, pad: 1 },
  { x: [2, 5, 5, 2], filter: [3, 3, 2, 3], stride: 1, pad: 3 }, // pad wider than the filter
  {
    x: [2, 6, 6, 2],
    filter: [3, 3, 2, 2],
    stride: 2,
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  },
  { x: [2, 3, 3, 2], filter: [3, 3, 2, 2], stride: 2, pad: 'valid' }, // 1x1 output
  { x: [4, 16, 16, 8], filter: [3, 3, 8, 16], stride: 2, pad: 'same' }, // a ResNet downsampling block
  { x: [2, 8, 7, 3], filter: [3, 3, 3, 4], stride: 2, pad: 1 }, // PyTorch-style padding 1
  { x: [2, 10, 11, 2], filter: [4, 4, 2, 3], stride: 2, pad: 'valid' }, // even filter
  { x: [1, 11, 9, 2], filter: [3, 5, 2, 3], stride: 3, pad: 'same' }, // stride 3
];

export function stridesOf(c: ConvCase): [number, number] {
  return typeof c.stride === 'number' ? [c.stride, c.stride] : c.stride;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** Conv2DBackpropInput's attributes for a case (inputShape: the case's x unless given, e.g. for NCHW). */
export function inputGradientAttrs(
  c: ConvCase,
  dataFormat: 'NHWC' | 'NCHW' = 'NHWC',
  inputShape: number[] = c.x,
): tf.NamedAttrMap {
  return {
    strides: stridesOf(c),
    pad: c.pad,
    dataFormat,
    dimRoundingMode: undefined,
    inputShape,
  } as unknown as tf.NamedAttrMap;
}
