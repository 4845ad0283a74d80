import type { FileSource } from './types';

/**
 * Thrown by every FileSource here when a file does not exist, so readers can tell "absent"
 * (probe the next candidate name, stop counting data_batch_N) from a real read failure.
 */
export class MissingFileError extends Error {
  constructor(
    readonly fileName: string,
    where: string,
  ) {
    super(`${fileName} not found in ${where}`);
    this.name = 'MissingFileError';
  }
}

/** Files held in memory: user-dropped files in the browser, and tests. list() gives the names, sorted. */
export function memoryFileSource(files: Record<string, Uint8Array>): FileSource {
  return {
    async read(name) {
      const bytes = Object.hasOwn(files, name) ? files[name] : undefined;
      if (!bytes) throw new MissingFileError(name, 'the dropped files');
      return bytes;
    },
    async list() {
      return Object.keys(files).sort();
    },
  };
}

export interface FetchFileSourceOptions {
  /** fetch implementation (defaults to the global one); tests and odd hosts pass their own. */
  fetch?: typeof fetch;
}

/**
 * Files served over HTTP under `baseUrl` (e.g. '/datasets/cifar10' from Vite's public/ folder), for the
 * browser and the Web Worker. HTTP cannot list a folder, so list() returns null.
 */
export function fetchFileSource(baseUrl: string, options: FetchFileSourceOptions = {}): FileSource {
  const base = baseUrl.replace(/\/+$/, '');
  return {
    async read(name) {
      const url = `${base}/${encodeURIComponent(name)}`;
      const doFetch = options.fetch ?? fetch;
      let response: Response;
      try {
        response = await doFetch(url);
      } catch (cause) {
        throw new Error(`could not fetch ${url} (${String(cause)}); check that the app's server is running`, {
          cause,
        });
      }
      if (response.status === 404) throw new MissingFileError(name, base);
      if (!response.ok)
        throw new Error(`fetching ${url} failed with HTTP ${response.status} ${response.statusText}`);
      // A single-page-app server answers an unknown path with index.html and status 200: that is a missing file.
      const contentType = response.headers.get('content-type') ?? '';
      if (contentType.includes('text/html') && !/\.html?$/i.test(name))
        throw new MissingFileError(name, base);
      return new Uint8Array(await response.arrayBuffer());
    },
    async list() {
      return null;
    },
  };
}

/**
 * Reads the first of `candidates` that exists (e.g. 'x.gz' then 'x'); uses list() when the source can
 * list, else probes each name. Throws MissingFileError naming every candidate when none exists.
 */
export async function readFirstPresent(
  source: FileSource,
  candidates: string[],
): Promise<{ name: string; bytes: Uint8Array }> {
  const present = await source.list();
  for (const name of candidates) {
    if (present && !present.includes(name)) continue;
    try {
      return { name, bytes: await source.read(name) };
    } catch (error) {
      if (!(error instanceof MissingFileError)) throw error;
    }
  }
  throw new MissingFileError(candidates.join(' or '), 'the dataset folder');
}

/** UTF-8 text of a file, or null when the file does not exist. */
export async function readTextIfPresent(source: FileSource, name: string): Promise<string | null> {
  try {
    return new TextDecoder().decode(await source.read(name));
  } catch (error) {
    if (error instanceof MissingFileError) return null;
    throw error;
  }
}
