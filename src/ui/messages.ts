/**
 * Error text for people: schema messages rewritten in plain words, one problem per field (the tightest limit,
 * not JavaScript's integer limit next to it), and values from outside (a link, a file) never echoed whole.
 */

/** The largest safe integer: zod's .int() reports it as a limit beside the field's real one. */
const SAFE_INT = String(Number.MAX_SAFE_INTEGER);

/** `text` with every run of more than `max` non-space characters cut to its start, an ellipsis and its length. */
export function shortenTokens(text: string, max = 48): string {
  return text.replace(
    new RegExp(`\\S{${max + 1},}`, 'g'),
    (token) => `${token.slice(0, Math.max(8, max - 20))}… (${token.length} characters)`,
  );
}

/** One schema problem in plain words ("Too big: expected int to be <=8192" -> "must be at most 8192"). */
export function humaniseProblem(problem: string): string {
  const rules: [RegExp, (m: RegExpExecArray) => string][] = [
    [/^Invalid input: expected int, received number/, () => 'must be a whole number'],
    [/^Invalid input: expected number, received (\w+)/, () => 'must be a number'],
    [
      /^Invalid input: expected (\w+), received (\w+)/,
      (m) => `must be ${article(m[1])} ${m[1]}, not ${article(m[2])} ${m[2]}`,
    ],
    [/^Too big: expected (?:int|number) to be <=(\S+)/, (m) => `must be at most ${m[1]}`],
    [/^Too big: expected (?:int|number) to be <(\S+)/, (m) => `must be less than ${m[1]}`],
    [/^Too small: expected (?:int|number) to be >=(\S+)/, (m) => `must be at least ${m[1]}`],
    [/^Too small: expected (?:int|number) to be >(\S+)/, (m) => `must be greater than ${m[1]}`],
    [/^Too big: expected string to have <=(\d+) characters/, (m) => `must have at most ${m[1]} characters`],
    [
      /^Too small: expected string to have >=(\d+) characters/,
      (m) => `must have at least ${m[1]} characters`,
    ],
    [/^Too big: expected array to have <=(\d+) items/, (m) => `must have at most ${m[1]} entries`],
    [/^Too small: expected array to have >=(\d+) items/, (m) => `must have at least ${m[1]} entries`],
    [
      /^Invalid option: expected one of (.*)$/,
      (m) =>
        `must be one of ${m[1]
          .split('|')
          .map((v) => v.replace(/^"|"$/g, ''))
          .join(', ')}`,
    ],
    [
      /^Unrecognized keys?: (.*)$/,
      (m) => `unknown field${m[1].includes(',') ? 's' : ''} ${m[1]} (remove it)`,
    ],
  ];
  for (const [pattern, rewrite] of rules) {
    const match = pattern.exec(problem);
    if (match) return shortenTokens(rewrite(match) + problem.slice(match[0].length));
  }
  return shortenTokens(problem);
}

/** Of several problems with one field, the one to show: not the integer-safety limit when a real one is there. */
export function pickProblem(problems: string[]): string {
  const real = problems.filter((p) => !p.includes(SAFE_INT));
  return (real.length > 0 ? real : problems)[0];
}

/** "(got <value>)" with a long value cut short. */
function shortGot(got: string): string {
  return got.length > 40 ? `${got.slice(0, 24)}… (${got.length} characters)` : got;
}

/**
 * A parseRunConfig message ("invalid RunConfig:\n  - path: problem (got value)" lines) as one short line per
 * field: "batchSize must be at most 8192 (got 100000)". Other messages only lose their overlong tokens.
 */
export function conciseError(message: string): string {
  const lines = message.split('\n');
  const byPath = new Map<string, { problems: string[]; got: string | null }>();
  const other: string[] = [];
  for (const line of lines.slice(1)) {
    const match = /^\s*- ([^:]+): (.*?)(?: \(got (.*)\))?$/s.exec(line);
    if (!match) {
      if (line.trim()) other.push(line.trim());
      continue;
    }
    const entry = byPath.get(match[1]) ?? { problems: [], got: match[3] ?? null };
    entry.problems.push(match[2]);
    byPath.set(match[1], entry);
  }
  if (!/^invalid RunConfig:/.test(lines[0]) || byPath.size === 0) return shortenTokens(message);
  const parts = [...byPath.entries()].map(([path, { problems, got }]) => {
    const problem = humaniseProblem(pickProblem(problems));
    const verb = /^(must|unknown)/.test(problem) ? ' ' : ': ';
    return `${shortenTokens(path)}${verb}${problem}${got !== null ? ` (got ${shortGot(got)})` : ''}`;
  });
  return [...parts, ...other.map((line) => shortenTokens(line))].join('; ');
}

function article(word: string): string {
  return /^[aeiou]/i.test(word) ? 'an' : 'a';
}

/** A message split for display: a short summary, and the rest folded away (null when there is no rest). */
export function summarise(message: string, max = 180): { summary: string; details: string | null } {
  const text = shortenTokens(message.trim());
  if (text.length <= max) return { summary: text, details: null };
  // cut at the end of a sentence or clause before max, else at a word boundary
  const head = text.slice(0, max);
  const cut = Math.max(head.lastIndexOf('. '), head.lastIndexOf('; '), head.lastIndexOf(': '));
  const at = cut > max / 3 ? cut + 1 : Math.max(head.lastIndexOf(' '), max / 2);
  return { summary: `${text.slice(0, at).trim()} …`, details: text };
}
