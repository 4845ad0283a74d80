/** Reading and writing nested fields of the config being edited, by dotted path ('optimizer.lr'). */

export function getPath(value: unknown, path: string): unknown {
  let current: unknown = value;
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** A copy of `value` with `path` set to `next` (objects on the way are copied, missing ones created). */
export function setPath(value: unknown, path: string, next: unknown): unknown {
  const [key, ...rest] = path.split('.');
  const base =
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  return { ...base, [key]: rest.length === 0 ? next : setPath(base[key], rest.join('.'), next) };
}

/** The number typed into a field, or the raw text when it is not one (validation then names the field). */
export function parseNumberInput(text: string): number | string {
  const trimmed = text.trim();
  if (trimmed === '') return text;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : text;
}

/** "32, 64, 128" -> [32, 64, 128]; the raw text when any entry is not a number. */
export function parseNumberList(text: string): number[] | string {
  const parts = text.split(/[,\s]+/).filter(Boolean);
  const values = parts.map(Number);
  return parts.length > 0 && values.every(Number.isFinite) ? values : text;
}
