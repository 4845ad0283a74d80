// Node-only: the one file under engine/data that touches the file system. The browser and the
// worker use fetchFileSource / memoryFileSource from ./sources instead.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MissingFileError } from './sources';
import type { FileSource } from './types';

function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ENOENT';
}

/**
 * The largest dataset file read: no file of a supported dataset comes near it (a CIFAR-10 batch is 30.7 MB, the
 * Fashion-MNIST training images 47 MB), and a larger one is refused before it is read into memory.
 */
export const MAX_DATASET_FILE_BYTES = 256 * 1024 * 1024;

/** Files in a local folder (CLI, tests). list() gives the plain files in `dir`, sorted. */
export function nodeFileSource(dir: string): FileSource {
  return {
    async read(name) {
      try {
        const { size } = await stat(join(dir, name));
        if (size > MAX_DATASET_FILE_BYTES) {
          throw new Error(
            `${join(dir, name)} is ${size.toLocaleString('en-US')} bytes, more than the ${MAX_DATASET_FILE_BYTES.toLocaleString('en-US')} ` +
              "a dataset file can be (the largest, Fashion-MNIST's training images, is 47 MB): it is not a file of this dataset",
          );
        }
        const buffer = await readFile(join(dir, name));
        return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      } catch (error) {
        if (isNotFound(error)) throw new MissingFileError(name, dir);
        throw error;
      }
    },
    async list() {
      try {
        const entries = await readdir(dir, { withFileTypes: true });
        return entries
          .filter((entry) => entry.isFile())
          .map((entry) => entry.name)
          .sort();
      } catch (error) {
        if (isNotFound(error)) {
          throw new Error(
            `dataset folder ${dir} does not exist; pass the folder that holds the dataset files (for CIFAR-10 run npm run datasets -- cifar10)`,
            {
              cause: error,
            },
          );
        }
        throw error;
      }
    },
  };
}
