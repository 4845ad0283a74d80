import { lossInfo } from '../losses/catalog';
import type { RunRecord } from './types';

function lossName(id: string): string {
  try {
    return lossInfo(id).name;
  } catch {
    return id; // unknown loss id in an old record: show the raw id
  }
}

/**
 * Legend text for a run: its name, the loss (unless the name already says it) with its parameters, the batch size
 * and the view count when it is not 2.
 */
export function runLegend(run: Pick<RunRecord, 'config' | 'id'>): string {
  const { config } = run;
  const name = config.name || run.id;
  const loss = lossName(config.loss.id);
  const params = Object.entries(config.loss.params)
    .map(([key, value]) => `${key}=${Number(value.toPrecision(3))}`)
    .join(' ');
  const lossPart = name.toLowerCase().includes(loss.toLowerCase())
    ? params
    : `${loss}${params ? ` ${params}` : ''}`;
  const views = config.views.large + config.views.small;
  return `${name}${lossPart ? ` · ${lossPart}` : ''} · B=${config.batchSize}${views !== 2 ? ` V=${views}` : ''}`;
}

/** The name of a run made from imported weights: the weights' own run name and the file, unique among `taken`. */
export function importedRunName(embeddedName: string, fileNames: string[], taken: Iterable<string>): string {
  const from = fileNames.length === 1 ? fileNames[0] : fileNames.join(' + ');
  const stem = (fileNames[0] ?? 'weights').replace(/\.[^.]*$/, '');
  const base =
    `${embeddedName || stem} (imported from ${from.length > 80 ? `${from.slice(0, 77)}…` : from})`.slice(
      0,
      190,
    );
  const names = new Set(taken);
  if (!names.has(base)) return base;
  for (let n = 2; ; n++) if (!names.has(`${base} #${n}`)) return `${base} #${n}`;
}
