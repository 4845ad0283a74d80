import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { installedKernels } from '../kernels/install';
import { FUSED_NTXENT_KERNEL } from '../kernels/ops';
import { installNodeWebGPU } from '../kernels/webgpu/node';
import { initBackend, onDeviceLost, type DeviceLostInfo } from './backend';
import { webgpuDeviceLimits } from './trainer';

// Machines of this project have Chromium's SwiftShader (a CPU Vulkan driver); without it or a real GPU Dawn finds
// no adapter, and then the fallback path is what must hold.
const vulkanDriverPresent =
  process.env.VK_ICD_FILENAMES !== undefined || existsSync('/usr/lib/chromium/vk_swiftshader_icd.json');

afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('installNodeWebGPU + initBackend webgpu in Node', () => {
  it('runs tfjs on WebGPU through Dawn, reports the adapter, and reports device loss', async () => {
    const first = installNodeWebGPU();
    expect(installNodeWebGPU()).toBe(first); // idempotent
    await first;
    expect(typeof (globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu).toBe('object');
    expect(typeof GPUBufferUsage.STORAGE).toBe('number');

    const report = await initBackend({ preferred: 'webgpu', environment: 'node' });
    if (!vulkanDriverPresent) {
      expect(report.skipped[0]).toEqual({ name: 'webgpu', reason: expect.stringMatching(/^no adapter/) });
      return;
    }
    expect(report.active).toBe('webgpu');
    expect(report.skipped).toEqual([]);
    expect(typeof report.adapter).toBe('string');
    expect(report.adapter!.length).toBeGreaterThan(0);
    // the project's WebGPU kernels are on; the tiled input gradient only off SwiftShader (slower there)
    expect(report.kernels).toEqual(
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
    expect(report.kernels.includes(tf.Conv2DBackpropInput)).toBe(!/swiftshader/i.test(report.adapter!));
    expect(installedKernels('webgpu')).toContain(tf.Conv2DBackpropFilter);
    const stock = await initBackend({ preferred: 'webgpu', environment: 'node', kernels: 'stock' });
    expect(stock.kernels).toEqual([]);
    expect(installedKernels('webgpu')).toEqual([]);
    await initBackend({ preferred: 'webgpu', environment: 'node' });

    const product = tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([5, 6, 7, 8], [2, 2]));
    expect(Array.from(await product.data())).toEqual([19, 22, 43, 50]);
    product.dispose();

    // the device holds the adapter's largest buffers (not WebGPU's 128 MiB / 256 MiB defaults), and the memory
    // budget of a run on it uses those limits
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    const adapter = (await navigator.gpu.requestAdapter())!;
    expect(device.limits.maxStorageBufferBindingSize).toBe(adapter.limits.maxStorageBufferBindingSize);
    expect(device.limits.maxBufferSize).toBe(adapter.limits.maxBufferSize);
    expect(webgpuDeviceLimits()!.tensorBytes).toBe(
      Math.min(adapter.limits.maxStorageBufferBindingSize, adapter.limits.maxBufferSize),
    );

    const calls: DeviceLostInfo[] = [];
    onDeviceLost((info) => calls.push(info));
    device.destroy();
    await device.lost;
    await Promise.resolve();
    expect(calls).toEqual([{ reason: 'destroyed', message: expect.any(String) }]);
  });
});
