import { LOSS_CATALOG, type LossId } from '../losses/catalog';
import type { StepPoint } from './types';

/** Where a staged run (mcl, m3col) enters a stage: the first step trained in it. */
export interface StageStart {
  stage: number;
  step: number;
  label: string;
}

/** The name of stage `stage` (1-based) of a loss: its catalogue stageLabels entry, else "stage n". */
export function stageLabel(lossId: LossId, stage: number): string {
  return LOSS_CATALOG[lossId]?.stageLabels?.[stage - 1] ?? `stage ${stage}`;
}

/**
 * The stage starts in a run's steps (sorted by step): one entry per stage change after the first trained stage,
 * so a run that never changed stage (or has no stages) gives []. A stage change at step s means steps >= s
 * trained in the new stage.
 */
export function stageStarts(steps: readonly StepPoint[], lossId: LossId): StageStart[] {
  const starts: StageStart[] = [];
  let previous: number | undefined;
  for (const point of steps) {
    if (point.stage === undefined) continue;
    if (previous !== undefined && point.stage !== previous)
      starts.push({ stage: point.stage, step: point.step, label: stageLabel(lossId, point.stage) });
    previous = point.stage;
  }
  return starts;
}
