import * as tf from '@tensorflow/tfjs';
import { describeAdapter, installKernels } from '../install';
import { installNodeWebGPU } from './node';

/** The adapter useNodeWebGPU started on (its description), once it has. */
let adapterDescription: string | undefined;

/**
 * Test support (Node only): switches tfjs to a real 'webgpu' backend through Dawn (the `webgpu` npm package),
 * on SwiftShader when no GPU driver is present, with the project kernels the engine installs on that adapter.
 * Returns null on success or the reason WebGPU is unavailable (the cpu backend is then active), so that kernel
 * tests can skip with that message instead of failing on machines without Vulkan.
 */
export async function useNodeWebGPU(): Promise<string | null> {
  try {
    await installNodeWebGPU();
    const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
    const adapter = await gpu?.requestAdapter({ powerPreference: 'high-performance' });
    if (adapter == null) {
      await tf.setBackend('cpu');
      return 'no adapter: navigator.gpu.requestAdapter() returned null (no Vulkan driver for Dawn)';
    }
    // the package registers 'webgpu' only if navigator.gpu exists when it is first evaluated
    await import('@tensorflow/tfjs-backend-webgpu');
    if (!(await tf.setBackend('webgpu'))) {
      await tf.setBackend('cpu');
      return "tf.setBackend('webgpu') failed to initialise";
    }
    await tf.ready();
    adapterDescription = describeAdapter(adapter);
    installKernels('webgpu', { kernels: 'project', adapter: adapterDescription });
    return null;
  } catch (err) {
    return `WebGPU through Dawn is unavailable: ${(err as Error).message}`;
  }
}

/** The description of the adapter useNodeWebGPU started on (undefined before it has). */
export function nodeWebGPUAdapter(): string | undefined {
  return adapterDescription;
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
