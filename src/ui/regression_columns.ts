import type { EvalEvent } from '../engine/events';
import type { StepPoint } from './types';

/** The history CSV's columns for staged objectives and regression targets, after the classification metrics. */
export const REGRESSION_COLUMNS = ['stage', 'h_knn_reg_mae', 'h_knn_reg_r2', 'h_linear_r2'] as const;

const cell = (value: number | undefined): string =>
  value === undefined || Number.isNaN(value) ? '' : String(value);

/** The REGRESSION_COLUMNS cells of one CSV row: the step's (else the eval's) stage, the eval's regression metrics. */
export function regressionCells(point: StepPoint | undefined, evalEvent: EvalEvent | undefined): string[] {
  const regression = evalEvent?.regression;
  return [
    cell(point?.stage ?? evalEvent?.stage),
    cell(regression?.knnMae),
    cell(regression?.knnR2),
    cell(regression?.linearR2),
  ];
}
