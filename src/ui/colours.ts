/**
 * Colours: each run keeps one colour from the run palette for life (chosen when it is made, not from its place in
 * the comparison), and classes in the PCA scatter use a palette of their own, so a class never looks like a run.
 */

/** Runs: Tableau 10, strong enough for lines on light and dark backgrounds. */
export const RUN_PALETTE = [
  '#4e79a7',
  '#e15759',
  '#59a14f',
  '#f28e2b',
  '#b07aa1',
  '#76b7b2',
  '#edc948',
  '#9c755f',
  '#ff9da7',
  '#bab0ac',
];

/** Classes: ColorBrewer Dark2 then Paired hues, filled markers; past 12 classes, hues a golden angle apart. */
export const CLASS_PALETTE = [
  '#1b9e77',
  '#d95f02',
  '#7570b3',
  '#e7298a',
  '#66a61e',
  '#e6ab02',
  '#a6761d',
  '#666666',
  '#1f78b4',
  '#b2df8a',
  '#fb9a99',
  '#cab2d6',
];

export function runColour(index: number): string {
  return RUN_PALETTE[((index % RUN_PALETTE.length) + RUN_PALETTE.length) % RUN_PALETTE.length];
}

export function classColour(label: number): string {
  if (label >= 0 && label < CLASS_PALETTE.length) return CLASS_PALETTE[label];
  return `hsl(${Math.round((label * 137.508) % 360)}, 55%, 50%)`;
}

/** The palette index for a new run: the colour fewest existing runs use (the lowest such index on ties). */
export function nextRunColour(used: number[]): number {
  const counts = RUN_PALETTE.map(() => 0);
  for (const index of used) if (index >= 0 && index < counts.length) counts[index] += 1;
  const fewest = Math.min(...counts);
  return counts.indexOf(fewest);
}

/** A stable palette index for a run saved before runs had one: from its id. */
export function colourFromId(id: string): number {
  let hash = 0;
  for (let i = 0; i < id.length; i++) hash = (Math.imul(hash, 31) + id.charCodeAt(i)) >>> 0;
  return hash % RUN_PALETTE.length;
}
