import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../engine/backend';
import { installNodeWebGPU } from './node';

/**
 * Test support (Node only): switches tfjs to a real 'webgpu' backend through Dawn (the `webgpu` npm package),
 * on SwiftShader when no GPU driver is present. Returns null on success or the reason WebGPU is unavailable,
 * so that kernel tests can skip with that message instead of failing on machines without Vulkan.
 */
export async function useNodeWebGPU(): Promise<string | null> {
  try {
    await installNodeWebGPU();
    const report = await initBackend({ preferred: 'webgpu', environment: 'node' });
    if (report.active === 'webgpu') return null;
    await tf.setBackend('cpu');
    return report.skipped.map((s) => s.reason).join('; ');
  } catch (err) {
    return `WebGPU through Dawn is unavailable: ${(err as Error).message}`;
  }
}

/** Largest |actual - expected| divided by max(1, largest |expected|): the tolerance measure of the tests. */
export async function relativeError(actual: tf.Tensor, expected: tf.Tensor): Promise<number> {
  if (actual.shape.join('x') !== expected.shape.join('x')) {
    throw new Error(`shapes differ: [${actual.shape.join(', ')}] vs [${expected.shape.join(', ')}]`);
  }
  const [a, e] = await Promise.all([actual.data(), expected.data()]);
  let worst = 0;
  let scale = 1;
  for (let i = 0; i < e.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - e[i]));
    scale = Math.max(scale, Math.abs(e[i]));
  }
  return worst / scale;
}
