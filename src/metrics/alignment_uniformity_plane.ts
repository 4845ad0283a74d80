/**
 * One point of Wang & Isola's alignment-uniformity plane (2020, Fig. 5): per evaluation,
 * x = -uniformity and y = -alignment, so better representations sit up and to the right.
 * A run's points in evaluation order form its trajectory.
 */
export interface AlignmentUniformityPoint {
  /** Training step the evaluation was taken at. */
  step: number;
  /** -uniformity (x axis). */
  negUniformity: number;
  /** -alignment (y axis). */
  negAlignment: number;
}

/** The plane point (-uniformity, -alignment) of one evaluation. */
export function alignmentUniformityPoint(
  step: number,
  metrics: { alignment: number; uniformity: number },
): AlignmentUniformityPoint {
  return { step, negUniformity: -metrics.uniformity, negAlignment: -metrics.alignment };
}
