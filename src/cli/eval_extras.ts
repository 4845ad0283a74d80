import type { EvalEvent } from '../engine/events';

/**
 * The objective-specific part of an eval line: kNN of cmim's informative embeddings and pixpro's dense pixel
 * consistency (corresponding vs other cells), or '' for the objectives that have neither.
 */
export function evalExtras(event: EvalEvent): string {
  const parts: string[] = [];
  if (event.informative) parts.push(`kNN(informative) ${(event.informative.knnTop1 * 100).toFixed(1)}%`);
  const dense = event.dense;
  if (dense && dense.matched !== null && dense.unmatched !== null)
    parts.push(
      `dense cosine ${dense.matched.toFixed(3)} corresponding / ${dense.unmatched.toFixed(3)} other`,
    );
  return parts.map((part) => `, ${part}`).join('');
}
