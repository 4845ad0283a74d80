import { LOSS_CATALOG, type LossInfo } from '../losses/catalog';
import { getPath, setPath } from './draft';

/**
 * The draft with loss `id` chosen (its parameters back to their defaults). A loss that regresses a continuous
 * target (supremix) on a draft without one also gets a target: the synthetic shapes' size, else the rotation
 * angle (with flips off), so choosing it never leaves the form invalid.
 */
export function withLoss(draft: unknown, id: string): unknown {
  const next = setPath(draft, 'loss', { id, params: {} });
  const info = (LOSS_CATALOG as Record<string, LossInfo | undefined>)[id];
  const target = getPath(next, 'dataset.target') ?? 'class';
  if (!info?.needsTargets || target !== 'class') return next;
  if (getPath(next, 'dataset.id') === 'synthetic') return setPath(next, 'dataset.target', 'size');
  // a horizontal flip mirrors the rotation angle, so the two views would disagree on the target
  return setPath(setPath(next, 'dataset.target', 'rotation'), 'augment.flip', 0);
}
