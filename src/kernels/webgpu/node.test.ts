import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { installedKernels, installKernels } from '../install';
import { FUSED_NTXENT_KERNEL } from '../ops';
import { installNodeWebGPU } from './node';
import { nodeWebGPUAdapter, useNodeWebGPU } from './testing';

// Machines of this project have Chromium's SwiftShader (a CPU Vulkan driver); without it or a real GPU Dawn finds
// no adapter, and then the fallback path is what must hold.
const vulkanDriverPresent =
  process.env.VK_ICD_FILENAMES !== undefined || existsSync('/usr/lib/chromium/vk_swiftshader_icd.json');

afterAll(async () => {
  installKernels('webgpu', { kernels: 'stock' });
  await tf.setBackend('cpu');
});

describe('installNodeWebGPU + installKernels on webgpu in Node', () => {
  it('runs tfjs on WebGPU through Dawn with the project kernels, and takes them out again', async () => {
    const first = installNodeWebGPU();
    expect(installNodeWebGPU()).toBe(first); // idempotent
    await first;
    expect(typeof (globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu).toBe('object');
    expect(typeof GPUBufferUsage.STORAGE).toBe('number');

    const unavailable = await useNodeWebGPU();
    if (!vulkanDriverPresent) {
      expect(unavailable).toMatch(/^no adapter/);
      return;
    }
    expect(unavailable).toBeNull();
    expect(tf.getBackend()).toBe('webgpu');
    const adapter = nodeWebGPUAdapter()!;
    expect(adapter.length).toBeGreaterThan(0);
    // the project's WebGPU kernels are on; the tiled input gradient only off SwiftShader (slower there)
    const kernels = installKernels('webgpu', { adapter });
    expect(kernels).toEqual(
      expect.arrayContaining([
        tf.Conv2DBackpropFilter,
        FUSED_NTXENT_KERNEL,
        'upload:queue.writeBuffer',
        'gradient:FusedBatchNorm',
        'gradient:Sum',
        'gradient:Mean',
        'gradient:Relu',
      ]),
    );
    expect(kernels.includes(tf.Conv2DBackpropInput)).toBe(!/swiftshader/i.test(adapter));
    expect(installedKernels('webgpu')).toEqual(kernels);
    expect(installKernels('webgpu', { kernels: 'stock' })).toEqual([]);
    expect(installKernels('webgpu', { adapter })).toEqual(kernels);

    const product = tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([5, 6, 7, 8], [2, 2]));
    expect(Array.from(await product.data())).toEqual([19, 22, 43, 50]);
    product.dispose();
  });
});
