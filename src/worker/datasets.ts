import type { RunConfig } from '../engine/config';
import { DATASET_IDS, type DatasetId } from '../engine/data/types';
import { fetchFileSource, openDataset, type Dataset } from '../engine/data/index';
import type { UserDatasetPayload } from './protocol';

/**
 * Datasets for runs in the worker. Parsed datasets are cached by key, so several runs on Fashion-MNIST
 * decode its files once. Served datasets come from `<base>datasets/<id>` (Vite's public/ folder).
 */

const cache = new Map<string, Promise<Dataset>>();

/** The cache key of a run's dataset: the user dataset's key, or the id plus the synthetic options. */
export function datasetKey(config: RunConfig, user?: UserDatasetPayload): string {
  if (user) return `user:${user.key}`;
  if (config.dataset.id === 'synthetic')
    return `synthetic:${JSON.stringify(config.dataset.synthetic)}:${config.seed}`;
  return config.dataset.id;
}

/** A Dataset over splits that are already in memory (a user-dropped dataset parsed by the UI). */
export function inMemoryDataset(user: UserDatasetPayload): Dataset {
  return {
    name: user.name,
    imageShape: user.imageShape,
    classes: user.classes,
    train: async () => user.train,
    test: async () => user.test,
  };
}

/** Opens (or reuses) the dataset a run trains on. `baseUrl` is the app's origin + base path. */
export function datasetFor(config: RunConfig, baseUrl: string, user?: UserDatasetPayload): Promise<Dataset> {
  const key = datasetKey(config, user);
  let dataset = cache.get(key);
  if (!dataset) {
    if (user) {
      dataset = Promise.resolve(inMemoryDataset(user));
    } else if (config.dataset.id === 'synthetic') {
      dataset = openDataset({ id: 'synthetic', ...config.dataset.synthetic, seed: config.seed });
    } else {
      const source = fetchFileSource(new URL(`datasets/${config.dataset.id}`, baseUrl).href);
      dataset = openDataset({ id: config.dataset.id }, source);
    }
    // a failed load (missing files) is not cached, so a later start after fixing them retries
    dataset.catch(() => cache.delete(key));
    cache.set(key, dataset);
  }
  return dataset;
}

/** The first file of each served dataset: present means the dataset can be opened (the rest are checked then). */
const PROBE_FILES: Record<Exclude<DatasetId, 'synthetic'>, string[][]> = {
  'fashion-mnist': [['train-images-idx3-ubyte.gz', 'train-images-idx3-ubyte']],
  mnist: [['train-images-idx3-ubyte.gz', 'train-images-idx3-ubyte']],
  cifar10: [['data_batch_1.bin'], ['test_batch.bin']],
};

async function served(url: string, fetcher: typeof fetch): Promise<boolean> {
  try {
    const response = await fetcher(url, { method: 'HEAD' });
    // a single-page-app server answers an unknown path with index.html and status 200
    return response.ok && !(response.headers.get('content-type') ?? '').includes('text/html');
  } catch {
    return false;
  }
}

/** Which served datasets exist under `<base>datasets/<id>/` (HEAD requests, nothing downloaded). */
export async function probeDatasets(
  baseUrl: string,
  fetcher: typeof fetch = fetch,
): Promise<Record<string, boolean>> {
  const entries = await Promise.all(
    DATASET_IDS.map(async (id): Promise<[string, boolean]> => {
      if (id === 'synthetic') return [id, true];
      const groups = PROBE_FILES[id];
      const present = await Promise.all(
        groups.map(async (names) => {
          for (const name of names) {
            if (await served(new URL(`datasets/${id}/${name}`, baseUrl).href, fetcher)) return true;
          }
          return false;
        }),
      );
      return [id, present.every(Boolean)];
    }),
  );
  return Object.fromEntries(entries);
}
