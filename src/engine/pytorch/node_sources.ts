// Node-only: the PyTorch project's sources read from ./project (the CLI; the worker uses bundled_sources.ts).
import { readFile } from 'node:fs/promises';
import { PROJECT_SOURCE_FILES } from './project';

/** Folder of the Python sources and the README template. */
export const PROJECT_DIR = new URL('./project/', import.meta.url);

/** Every file of PROJECT_SOURCE_FILES by name. */
export async function readProjectSources(): Promise<Record<string, string>> {
  const entries = await Promise.all(
    PROJECT_SOURCE_FILES.map(
      async (name) => [name, await readFile(new URL(name, PROJECT_DIR), 'utf8')] as const,
    ),
  );
  return Object.fromEntries(entries);
}
