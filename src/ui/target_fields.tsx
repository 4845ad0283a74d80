import { DATASET_TARGETS } from '../engine/config';
import { getPath } from './draft';
import { NumberField, SelectField, type FieldContext } from './fields';

const TARGET_LABELS: Record<(typeof DATASET_TARGETS)[number], string> = {
  class: 'none (class labels only)',
  rotation: 'rotation angle (images rotated at random)',
  size: 'shape size (synthetic only)',
};

/**
 * The dataset's regression target (RunConfig dataset.target, dataset.maxRotation): what SupReMix regresses and
 * what the regression metrics (kNN regression MAE and R², linear-probe R²) measure.
 */
export function TargetFields({ ctx }: { ctx: FieldContext }) {
  const synthetic = getPath(ctx.draft, 'dataset.id') === 'synthetic';
  const target = String(getPath(ctx.draft, 'dataset.target') ?? 'class');
  return (
    <div className="row">
      <SelectField
        ctx={ctx}
        path="dataset.target"
        label="Regression target"
        help="a continuous target per image: SupReMix trains on it, and evaluations add R² and MAE"
        options={DATASET_TARGETS.filter((t) => synthetic || t !== 'size' || target === 'size').map((t) => ({
          value: t,
          label: TARGET_LABELS[t],
        }))}
      />
      {target === 'rotation' && (
        <NumberField
          ctx={ctx}
          path="dataset.maxRotation"
          label="Largest rotation (degrees)"
          help="angles are drawn uniformly in [−max, max]; set the flip probability to 0, a flip mirrors the angle"
          min={1}
          max={180}
          step="any"
        />
      )}
    </div>
  );
}
