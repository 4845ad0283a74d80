import { parseRunConfig, runConfigSchema, type RunConfig } from '../engine/config';
import { lossInfo, paramProblem } from '../losses/catalog';
import { conciseError, humaniseProblem, pickProblem } from './messages';

/** Problems keyed by the dotted path of the field they belong to ('optimizer.lr', 'loss.params.tau', 'views'). */
export type FieldErrors = Record<string, string>;

/** Lines of parseRunConfig's message ("  - path: problem") as path -> problem. */
function errorLines(message: string): FieldErrors {
  const errors: FieldErrors = {};
  for (const line of message.split('\n')) {
    const match = /^\s*- ([^:]+): (.*)$/.exec(line);
    if (match) errors[match[1]] ??= humaniseProblem(match[2]);
  }
  return errors;
}

/**
 * Validates a config being edited: the valid RunConfig, or null plus a problem per field. Uses the same
 * zod schema and cross-field checks as the engine (parseRunConfig), so the UI and the worker agree.
 */
export function validateDraft(draft: unknown): { config: RunConfig | null; errors: FieldErrors } {
  const result = runConfigSchema.safeParse(draft);
  const errors: FieldErrors = {};
  if (!result.success) {
    const byPath = new Map<string, string[]>();
    for (const issue of result.error.issues) {
      const path = issue.path.map(String).join('.') || '(config)';
      byPath.set(path, [...(byPath.get(path) ?? []), issue.message]);
    }
    // one problem per field, in words: the field's own limit, not zod's integer-safety one beside it
    for (const [path, messages] of byPath) errors[path] = humaniseProblem(pickProblem(messages));
  }
  // loss params one by one, so each input shows its own range problem
  const loss = (draft as { loss?: { id?: unknown; params?: Record<string, unknown> } } | null)?.loss;
  if (loss && typeof loss.id === 'string') {
    try {
      const def = lossInfo(loss.id);
      for (const [name, spec] of Object.entries(def.params)) {
        const value = loss.params?.[name];
        if (value === undefined) continue;
        const problem = paramProblem(name, value as number, spec);
        if (problem) errors[`loss.params.${name}`] = problem;
      }
    } catch (error) {
      errors['loss.id'] = (error as Error).message;
    }
  }
  if (Object.keys(errors).length > 0) return { config: null, errors };
  try {
    return { config: parseRunConfig(draft), errors };
  } catch (error) {
    const lines = errorLines((error as Error).message);
    return {
      config: null,
      errors: Object.keys(lines).length ? lines : { '(config)': conciseError((error as Error).message) },
    };
  }
}
