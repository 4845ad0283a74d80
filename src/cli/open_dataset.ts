// Node-only: opens the dataset a RunConfig names from a folder on disk.
import { openDataset } from '../engine/data/index';
import { nodeFileSource } from '../engine/data/node_source';
import type { Dataset } from '../engine/data/types';
import type { RunConfig } from '../engine/config';

export async function openDatasetFromDir(
  spec: RunConfig['dataset'],
  dir: string,
  seed: number,
): Promise<Dataset> {
  if (spec.id === 'synthetic') return openDataset({ id: 'synthetic', seed, ...spec.synthetic });
  const hint =
    spec.id === 'cifar10'
      ? 'run `npm run datasets -- cifar10` first, or pass --data-dir with the CIFAR-10 binary files'
      : `pass --data-dir with the ${spec.id} idx files`;
  try {
    return await openDataset({ id: spec.id }, nodeFileSource(dir));
  } catch (err) {
    throw new Error(`could not open dataset '${spec.id}' from ${dir}: ${(err as Error).message}; ${hint}`, {
      cause: err,
    });
  }
}
