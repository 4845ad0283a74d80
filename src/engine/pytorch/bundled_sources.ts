/**
 * The project's sources as the bundle carries them (Vite's ?raw imports): the engine worker builds the PyTorch
 * project with these. Node code without Vite (the CLI) reads the same files with readProjectSources (node_sources.ts).
 */
const modules = import.meta.glob(['./project/*.py', './project/README.md'], {
  query: '?raw',
  import: 'default',
  eager: true,
}) as Record<string, string>;

export const BUNDLED_SOURCES: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(modules).map(([path, text]) => [path.slice('./project/'.length), text]),
);
