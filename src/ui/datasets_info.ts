import type { BackendInfo } from '../worker/protocol';

/** Names of the served datasets as people write them. */
export const DATASET_LABELS: Record<string, string> = {
  'fashion-mnist': 'Fashion-MNIST',
  cifar10: 'CIFAR-10',
  mnist: 'MNIST',
  synthetic: 'synthetic',
};

export function datasetLabel(id: string): string {
  return DATASET_LABELS[id] ?? id;
}

/** True when the worker has looked and the dataset's files are not on this server. */
export function datasetMissing(served: Record<string, boolean>, id: string): boolean {
  return served[id] === false;
}

/** What to do about a dataset that is not on this server: the drop zone where it works, and the command. */
export function datasetAdvice(id: string): string {
  switch (id) {
    case 'cifar10':
      return 'CIFAR-10 is not on this server. Drop the CIFAR-10 binary files (cifar-10-binary.tar.gz, or data_batch_1.bin … test_batch.bin) into the drop zone under Data; or, in a local copy of the app, run "npm run datasets -- cifar10" and reload.';
    case 'mnist':
      return 'MNIST is not on this server. In a local copy of the app, put the four MNIST idx files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in public/datasets/mnist and reload; or pick Fashion-MNIST, which has the same shape.';
    default:
      return `${datasetLabel(id)} is not on this server. Pick the synthetic dataset, or drop a dataset into the drop zone under Data.`;
  }
}

/** Software WebGPU adapters (CPU emulation): about a thousand times slower than a GPU. */
export function isSoftwareAdapter(backend: BackendInfo | null): boolean {
  return (
    backend?.active === 'webgpu' &&
    /swiftshader|llvmpipe|lavapipe|software|basic render|warp/i.test(backend.adapter ?? '')
  );
}
