import { lossInfo } from '../losses/catalog';
import type { RunRecord } from './types';

/** Legend text for a run: name, loss and its key hyperparameters, batch size and views. */
export function runLegend(run: Pick<RunRecord, 'config' | 'id'>): string {
  const { config } = run;
  let lossName: string = config.loss.id;
  try {
    lossName = lossInfo(config.loss.id).name;
  } catch {
    // unknown loss id in an old record: show the raw id
  }
  const params = Object.entries(config.loss.params)
    .map(([key, value]) => `${key}=${Number(value.toPrecision(3))}`)
    .join(' ');
  const views = config.views.large + config.views.small;
  return `${config.name || run.id} · ${lossName}${params ? ` ${params}` : ''} · B=${config.batchSize}${views !== 2 ? ` V=${views}` : ''}`;
}
