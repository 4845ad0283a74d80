import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { backendStarted } from '../kernels/backend_ops';
import { describeAdapter, installKernels } from '../kernels/install';

export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';

export interface BackendReport {
  active: BackendName;
  /** WebGPU adapter description (vendor, architecture, device, description), when webgpu is active. */
  adapter?: string;
  /** Backends tried before `active`, each with why it was not used. */
  skipped: { name: BackendName; reason: string }[];
  /**
   * The project kernels registered for `active` (kernel names; 'gradient:FusedBatchNorm' for the leaner BatchNorm
   * gradient); empty with kernels: 'stock'.
   */
  kernels: string[];
}

export interface InitBackendOptions {
  /** Backend to try first; 'auto' (default) is webgpu in the browser and wasm in Node. Failures fall down the chain. */
  preferred?: BackendName | 'auto';
  /** Defaults to 'node' when running under Node, else 'browser' (a page or a Web Worker). */
  environment?: 'browser' | 'node';
  /** Where the tfjs-backend-wasm .wasm binaries are served from (a URL prefix ending in '/'); Node needs none. */
  wasmPaths?: string;
  /**
   * 'project' (default): register this project's kernels for the chosen backend (webgpu: tiled conv gradients,
   * fused NT-Xent; wasm: XNNPACK-based conv gradients; all: the leaner BatchNorm gradient). 'stock': only what
   * a backend cannot train without (wasm's Conv2DBackpropFilter). For comparisons and bug hunts.
   */
  kernels?: 'project' | 'stock';
}

/** Fastest first; a backend that fails hands over to the next one. */
const CHAIN: BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

/** Why a backend could not be used; thrown by the per-backend setup below and reported, never surfaced. */
class Unavailable extends Error {}

function detectEnvironment(): 'browser' | 'node' {
  return typeof process !== 'undefined' && typeof process.versions?.node === 'string' ? 'node' : 'browser';
}

function gpuOf(): GPU | undefined {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  return nav?.gpu;
}

/** Sets a backend and proves it computes: a broken driver can initialise and still return garbage. */
async function activate(name: BackendName): Promise<void> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
  } catch (error) {
    throw new Unavailable(`tf.setBackend('${name}') threw: ${(error as Error).message}`, { cause: error });
  }
  if (!ok)
    throw new Unavailable(
      `tf.setBackend('${name}') failed to initialise (see the console warning for the cause)`,
    );
  await tf.ready();
  const sum = tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4]));
  const values = await sum.data();
  tf.dispose(sum);
  if (values[0] !== 4 || values[1] !== 6) {
    throw new Unavailable(`${name} initialised but computed [1,2]+[3,4] = [${Array.from(values).join(',')}]`);
  }
}

async function tryWebGPU(environment: 'browser' | 'node'): Promise<string> {
  const gpu = gpuOf();
  if (gpu === undefined) {
    throw new Unavailable(
      environment === 'node'
        ? 'navigator.gpu missing: call installNodeWebGPU() (src/kernels/webgpu/node.ts) before initBackend in Node'
        : 'navigator.gpu missing: this browser has no WebGPU; use Chrome 113+ or enable chrome://flags/#enable-unsafe-webgpu',
    );
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter === null) {
    throw new Unavailable(
      'no adapter: navigator.gpu.requestAdapter() returned null (GPU blocklisted or WebGPU disabled; see chrome://gpu)',
    );
  }
  // The package registers 'webgpu' only if navigator.gpu exists when it is first evaluated, hence the late import.
  await import('@tensorflow/tfjs-backend-webgpu');
  if (tf.findBackendFactory('webgpu') == null) {
    throw new Unavailable(
      '@tensorflow/tfjs-backend-webgpu was loaded before navigator.gpu existed and did not register',
    );
  }
  await activate('webgpu');
  return describeAdapter(adapter);
}

function hasWebGL2(): boolean {
  try {
    if (typeof OffscreenCanvas !== 'undefined')
      return new OffscreenCanvas(1, 1).getContext('webgl2') !== null;
    if (typeof document !== 'undefined')
      return document.createElement('canvas').getContext('webgl2') !== null;
  } catch {
    return false;
  }
  return false;
}

async function tryWebGL(environment: 'browser' | 'node'): Promise<void> {
  if (environment === 'node') throw new Unavailable('webgl: not available in Node (no WebGL2 context)');
  if (!hasWebGL2())
    throw new Unavailable('webgl: no WebGL2 context (WebGL disabled or the GPU is blocklisted)');
  await activate('webgl');
}

async function tryWasm(wasmPaths: string | undefined): Promise<void> {
  // Only before its first initialisation; afterwards the binary is loaded and the prefix no longer matters.
  if (wasmPaths !== undefined && !backendStarted('wasm')) setWasmPaths(wasmPaths);
  try {
    await activate('wasm');
  } catch (error) {
    const where = wasmPaths === undefined ? 'the default location' : wasmPaths;
    throw new Unavailable(
      `wasm: could not start (.wasm binaries expected at ${where}): ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * Chooses and initialises the tfjs backend. 'auto' tries webgpu -> webgl -> wasm -> cpu in the browser and
 * wasm -> cpu in Node; a named backend is tried first and, if it fails, the chain continues below it. The report
 * says which backend is active, the WebGPU adapter, and why each skipped backend was skipped. Also registers
 * this project's kernels (the wasm/cpu Conv2DBackpropFilter) for the chosen backend.
 */
export async function initBackend(opts: InitBackendOptions = {}): Promise<BackendReport> {
  const environment = opts.environment ?? detectEnvironment();
  const preferred = opts.preferred ?? 'auto';
  if (preferred !== 'auto' && !CHAIN.includes(preferred)) {
    throw new Error(
      `initBackend: unknown backend "${String(preferred)}"; use one of ${CHAIN.join(', ')} or 'auto'`,
    );
  }
  const start = preferred !== 'auto' ? preferred : environment === 'node' ? 'wasm' : 'webgpu';
  const candidates = CHAIN.slice(CHAIN.indexOf(start));

  const kernelChoice = opts.kernels ?? 'project';
  if (kernelChoice !== 'project' && kernelChoice !== 'stock') {
    throw new Error(`initBackend: unknown kernels "${String(kernelChoice)}"; use 'project' or 'stock'`);
  }
  const skipped: BackendReport['skipped'] = [];
  for (const name of candidates) {
    try {
      let adapter: string | undefined;
      if (name === 'webgpu') adapter = await tryWebGPU(environment);
      else if (name === 'webgl') await tryWebGL(environment);
      else if (name === 'wasm') await tryWasm(opts.wasmPaths);
      else await activate('cpu');
      // what a backend cannot train correctly without stays with 'stock' (wasm: the missing
      // Conv2DBackpropFilter and UnsortedSegmentSum, the float32 OneHot fix): see KERNELS in kernels/install.ts
      const kernels = installKernels(name, { kernels: kernelChoice, adapter });
      return adapter === undefined
        ? { active: name, skipped, kernels }
        : { active: name, adapter, skipped, kernels };
    } catch (error) {
      if (name === 'cpu') throw error;
      skipped.push({
        name,
        reason: error instanceof Unavailable ? error.message : `${name}: ${String(error)}`,
      });
    }
  }
  throw new Error('initBackend: no backend could be initialised');
}

/** What the trainer needs to know when the GPU goes away. */
export interface DeviceLostInfo {
  reason: string;
  message: string;
}

/**
 * Calls `callback` once if the WebGPU device behind the tfjs webgpu backend is lost (driver crash, GPU reset,
 * tab in the background too long, device destroyed), so the trainer can stop with an error instead of hanging.
 * A no-op when the active backend has no GPUDevice. Returns an unsubscribe function.
 * `backend` defaults to the active tfjs backend; tests pass their own.
 */
export function onDeviceLost(
  callback: (info: DeviceLostInfo) => void,
  backend: unknown = tf.backend(),
): () => void {
  const device = (backend as { device?: { lost?: Promise<GPUDeviceLostInfo> } } | null)?.device;
  if (device?.lost === undefined) return () => {};
  let subscribed = true;
  void device.lost.then((info) => {
    if (subscribed) callback({ reason: String(info.reason ?? 'unknown'), message: info.message });
  });
  return () => {
    subscribed = false;
  };
}
