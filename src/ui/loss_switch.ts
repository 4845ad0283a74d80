import { lossInfo } from '../losses/catalog';
import { getPath, setPath } from './draft';

/**
 * The draft with another loss picked in the config panel: its default params, the view counts moved into the
 * range the loss takes (cmim trains on one clean view, pixpro on two same-size views), and a regression target for
 * a loss that regresses one (supremix) on a draft without one, so that picking a loss never leaves the form invalid
 * for a reason the person did not touch. Other fields stay as they are.
 */
export function draftWithLoss(draft: unknown, lossId: string): unknown {
  return withTarget(withViews(draft, lossId), lossId);
}

/**
 * A loss that regresses a continuous target gets one: the synthetic shapes' size, else the rotation angle (with
 * flips off: a horizontal flip mirrors the angle, so the two views would disagree on the target).
 */
function withTarget(draft: unknown, lossId: string): unknown {
  const target = getPath(draft, 'dataset.target') ?? 'class';
  if (!lossInfo(lossId).needsTargets || target !== 'class') return draft;
  if (getPath(draft, 'dataset.id') === 'synthetic') return setPath(draft, 'dataset.target', 'size');
  return setPath(setPath(draft, 'dataset.target', 'rotation'), 'augment.flip', 0);
}

function withViews(draft: unknown, lossId: string): unknown {
  const withLoss = setPath(draft, 'loss', { id: lossId, params: {} });
  const def = lossInfo(lossId);
  const large = Number(getPath(draft, 'views.large') ?? 2);
  const small = Number(getPath(draft, 'views.small') ?? 0);
  if (!Number.isInteger(large) || !Number.isInteger(small)) return withLoss; // the field shows its own error
  // small views only where the loss takes more than its minimum (pixpro's two views of one size: none)
  const keptSmall = Math.min(small, Math.max(0, def.maxViews - def.minViews));
  const nextLarge = Math.min(
    Math.max(large + small - keptSmall, def.minViews - keptSmall),
    def.maxViews - keptSmall,
  );
  if (nextLarge === large && keptSmall === small) return withLoss;
  return setPath(setPath(withLoss, 'views.large', Math.max(1, nextLarge)), 'views.small', keptSmall);
}
