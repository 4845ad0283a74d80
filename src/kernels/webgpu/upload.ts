import * as tf from '@tensorflow/tfjs';

/**
 * Host-to-GPU uploads through GPUQueue.writeBuffer.
 *
 * tfjs-backend-webgpu uploads a tensor made on the host (every tf.scalar, every constant a JS number turns into,
 * index lists, the batch) by creating a fresh MAP_WRITE staging buffer, mapping it, copying and recording a
 * buffer-to-buffer copy; the staging buffer is destroyed after the submit. One GPUDevice.createBuffer per upload,
 * hundreds per training step (the optimizer's and the augmentations' scalars), measured on an H200 (Node + Dawn,
 * W2 at batch 256): createBuffer alone was 27% of the step's CPU time once the Sum/Mean gradients stopped making
 * full-size tensors on the host, with the GPU mostly idle.
 *
 * writeBuffer hands the bytes to the queue, which stages them itself. Ordering: queue operations run in the order
 * they are issued, so the write lands before the pending command encoder (submitted later) reads the tensor, and
 * after every earlier submit that used the pooled buffer (tfjs returns a buffer to its pool only once the commands
 * that use it are submitted). Same values, same pool, no staging buffer of ours.
 */

/** The parts of tfjs-backend-webgpu's WebGPUBackend the upload uses (it exports no types for them). */
interface TensorData {
  values: ArrayLike<number> | null | undefined;
  dtype: tf.DataType;
  shape: number[];
  resource: unknown;
}
interface WebGPUBackendInternals {
  device: GPUDevice;
  tensorMap: { get(dataId: object): TensorData };
  bufferManager: { acquireBuffer(size: number, usage: number): GPUBuffer };
  uploadToGPU(dataId: object): void;
}
type Upload = (this: WebGPUBackendInternals, dataId: object) => void;

let patched: { proto: WebGPUBackendInternals; stock: Upload } | null = null;

function queueUpload(this: WebGPUBackendInternals, dataId: object): void {
  const stock = patched!.stock;
  const data = this.tensorMap.get(dataId);
  if (data.resource != null) return;
  const { values, dtype } = data;
  const count = tf.util.sizeFromShape(data.shape);
  // complex64 and string tensors, and nothing to upload, stay with tfjs
  if (values == null || count === 0 || (dtype !== 'float32' && dtype !== 'int32' && dtype !== 'bool')) {
    stock.call(this, dataId);
    return;
  }
  // the GPU holds float32 as float32 and int32/bool as int32 (bool values arrive as a Uint8Array)
  const view =
    dtype === 'float32'
      ? values instanceof Float32Array
        ? values
        : Float32Array.from(values)
      : values instanceof Int32Array
        ? values
        : Int32Array.from(values);
  const size = count * 4;
  const buffer = this.bufferManager.acquireBuffer(
    size,
    GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  );
  this.device.queue.writeBuffer(buffer, 0, view.buffer, view.byteOffset, size);
  data.values = null;
  data.resource = buffer;
}

/**
 * Makes the started 'webgpu' backend upload through queue.writeBuffer (idempotent). Returns false when no 'webgpu'
 * backend has been created yet (nothing to patch; installKernels calls this again when it runs after the backend
 * has started, which is how the engine and the benchmark use it).
 */
export function installQueueUploads(): boolean {
  if (patched) return true;
  const backend = (tf.engine().registry as Record<string, unknown>).webgpu as
    WebGPUBackendInternals | undefined;
  if (backend == null || typeof backend.uploadToGPU !== 'function') return false;
  // the prototype, so every instance (a backend re-created after a lost device too) uploads the same way
  const proto = Object.getPrototypeOf(backend) as WebGPUBackendInternals;
  patched = { proto, stock: proto.uploadToGPU as Upload };
  proto.uploadToGPU = queueUpload;
  return true;
}

/** Puts tfjs' own upload back (the benchmark's stock runs). */
export function uninstallQueueUploads(): void {
  if (!patched) return;
  patched.proto.uploadToGPU = patched.stock;
  patched = null;
}

/** Whether installQueueUploads is in effect. */
export function queueUploadsInstalled(): boolean {
  return patched != null;
}
