/**
 * Node-only: WebGPU for Node through Dawn (the 'webgpu' npm package), so initBackend({ preferred: 'webgpu' })
 * works in the CLI and in tests. Never import this from browser or worker code.
 */
import { existsSync } from 'node:fs';

/** Chromium ships SwiftShader's Vulkan ICD: a CPU Vulkan driver, so WebGPU runs (slowly) on GPU-less machines. */
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export interface NodeWebGPUInstall {
  /** The Vulkan ICD file Dawn was pointed at, when this call set VK_ICD_FILENAMES. */
  vulkanIcd?: string;
}

let installed: Promise<NodeWebGPUInstall> | undefined;

/**
 * Installs the WebGPU globals (GPUBufferUsage, ...) and navigator.gpu from Dawn. Sets VK_ICD_FILENAMES to
 * Chromium's SwiftShader ICD when that file exists and the variable is unset (it must be set before Dawn loads).
 * Idempotent. Call it before initBackend, and before anything imports @tensorflow/tfjs-backend-webgpu.
 */
export function installNodeWebGPU(dawnOptions: string[] = []): Promise<NodeWebGPUInstall> {
  installed ??= install(dawnOptions);
  return installed;
}

async function install(dawnOptions: string[]): Promise<NodeWebGPUInstall> {
  const result: NodeWebGPUInstall = {};
  if (process.env.VK_ICD_FILENAMES === undefined && existsSync(SWIFTSHADER_ICD)) {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    result.vulkanIcd = SWIFTSHADER_ICD;
  }
  let dawn: typeof import('webgpu');
  try {
    dawn = await import('webgpu');
  } catch (error) {
    throw new Error(
      `installNodeWebGPU: cannot load the 'webgpu' package (Dawn for Node): ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create(dawnOptions);
  const navigator = (globalThis as { navigator?: object }).navigator;
  if (navigator === undefined) {
    // Node 20 has no navigator at all.
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  } else {
    // Node 21+ has a navigator whose properties are getters on its prototype; define an own property instead.
    Object.defineProperty(navigator, 'gpu', { value: gpu, configurable: true, writable: true });
  }
  return result;
}
