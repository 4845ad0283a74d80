import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { installedKernels, installKernels } from '../install';
import { installQueueUploads, queueUploadsInstalled, uninstallQueueUploads } from './upload';
import { useNodeWebGPU } from './testing';

const unavailable = await useNodeWebGPU();
if (unavailable) console.warn(`skipping the WebGPU upload tests: ${unavailable}`);

afterAll(async () => {
  installKernels('webgpu', { kernels: 'stock' });
  await tf.setBackend('cpu');
});

/** Counts GPUDevice.createBuffer calls made while `work` runs (and its GPU work completes). */
async function countCreateBuffer(work: () => Promise<void>): Promise<number> {
  const device = (tf.backend() as unknown as { device: GPUDevice }).device;
  const original = device.createBuffer;
  let calls = 0;
  device.createBuffer = function (this: GPUDevice, descriptor: GPUBufferDescriptor) {
    calls++;
    return original.call(this, descriptor);
  };
  try {
    await work();
  } finally {
    device.createBuffer = original;
  }
  return calls;
}

/**
 * 200 host-made scalars added onto one GPU tensor, read back: what an optimizer step does with its constants.
 * (2,048 elements: above tfjs-webgpu's CPU hand-off size, so the adds run on the GPU and upload each scalar.)
 */
async function addScalars(): Promise<number> {
  const total = tf.tidy(() => {
    let acc = tf.zeros([2048]);
    for (let i = 0; i < 200; i++) acc = tf.add(acc, tf.scalar(0.5));
    return acc;
  });
  const values = await total.data();
  total.dispose();
  return values[0];
}

describe.skipIf(unavailable !== null)('uploads through queue.writeBuffer on WebGPU', () => {
  it('uploads float32, int32 and bool values (typed arrays, plain arrays, sub-array views) unchanged', async () => {
    installQueueUploads();
    expect(queueUploadsInstalled()).toBe(true);
    // run even tiny ops on the GPU (tfjs-webgpu otherwise computes small host-made inputs on the CPU)
    const forward = tf.env().get('WEBGPU_CPU_FORWARD');
    tf.env().set('WEBGPU_CPU_FORWARD', false);
    const queue = (tf.backend() as unknown as { device: GPUDevice }).device.queue;
    const writeBuffer = queue.writeBuffer;
    let writes = 0;
    queue.writeBuffer = function (this: GPUQueue, ...args: Parameters<GPUQueue['writeBuffer']>) {
      writes++;
      return writeBuffer.apply(this, args);
    };
    try {
      const backing = new Float32Array([9, 9, 1.5, -2.25, 3e-8, 9]);
      const big = Array.from({ length: 3000 }, (_, i) => (i % 7) - 3);
      const cases: Array<[tf.Tensor, number[]]> = [
        [tf.tensor1d(backing.subarray(2, 5)), [1.5, -2.25, 3e-8]], // a view with a byte offset
        [
          tf.tensor2d(
            [
              [1, 2, 3],
              [4, 5, 6],
            ],
            [2, 3],
            'int32',
          ),
          [1, 2, 3, 4, 5, 6],
        ],
        [tf.tensor1d([true, false, true], 'bool'), [1, 0, 1]],
        [tf.scalar(-7.5), [-7.5]],
        [tf.tensor1d(big, 'int32'), big],
      ];
      for (const [tensor, expected] of cases) {
        // an op makes the backend upload the host values; the op keeps them
        const out =
          tensor.dtype === 'bool'
            ? tf.logicalNot(tf.logicalNot(tensor))
            : tf.add(tensor, tf.zerosLike(tensor));
        const got = Array.from(await out.data());
        expect(got.map((v) => Math.fround(v))).toEqual(expected.map((v) => Math.fround(v)));
        tf.dispose([tensor, out]);
      }
      expect(writes).toBeGreaterThanOrEqual(cases.length);
      const empty = tf.add(tf.tensor1d([]), 1);
      expect(empty.shape).toEqual([0]);
      empty.dispose();
    } finally {
      queue.writeBuffer = writeBuffer;
      tf.env().set('WEBGPU_CPU_FORWARD', forward);
      uninstallQueueUploads();
    }
  });

  it('creates no staging buffer per upload: the stock path creates one for each host-made tensor', async () => {
    uninstallQueueUploads();
    expect(await addScalars()).toBe(100); // warm the buffer pool and the pipelines
    const stockCalls = await countCreateBuffer(async () => expect(await addScalars()).toBe(100));
    installQueueUploads();
    expect(await addScalars()).toBe(100);
    const ourCalls = await countCreateBuffer(async () => expect(await addScalars()).toBe(100));
    expect(stockCalls).toBeGreaterThanOrEqual(200);
    expect(ourCalls).toBeLessThan(20);
    uninstallQueueUploads();
  });

  it("installKernels installs it and reports it; kernels: 'stock' restores the stock upload", () => {
    installKernels('webgpu');
    expect(queueUploadsInstalled()).toBe(true);
    expect(installedKernels('webgpu')).toContain('upload:queue.writeBuffer');
    installKernels('webgpu', { kernels: 'stock' });
    expect(queueUploadsInstalled()).toBe(false);
    expect(installedKernels('webgpu')).toEqual([]);
  });
});
