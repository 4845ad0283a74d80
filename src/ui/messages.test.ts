import { describe, expect, it } from 'vitest';
import { conciseError, humaniseProblem, shortenTokens, summarise } from './messages';

describe('error messages for people', () => {
  it('rewrites schema problems in plain words', () => {
    expect(humaniseProblem('Invalid input: expected int, received number')).toBe('must be a whole number');
    expect(humaniseProblem('Too small: expected number to be >=2')).toBe('must be at least 2');
    expect(humaniseProblem('Invalid option: expected one of "a"|"b"')).toBe('must be one of a, b');
  });

  it('condenses a RunConfig error to one problem per field with short values', () => {
    const message = [
      'invalid RunConfig:',
      '  - batchSize: Too big: expected int to be <=9007199254740991 (got 100000000000000000000)',
      '  - batchSize: Too big: expected number to be <=8192 (got 100000000000000000000)',
      `  - dataset.id: Invalid option: expected one of "cifar10"|"mnist" (got "${'z'.repeat(500)}")`,
    ].join('\n');
    const concise = conciseError(message);
    expect(concise).toMatch(
      /^batchSize must be at most 8192 \(got 100000000000000000000\); dataset\.id must be one of cifar10, mnist \(got "zzz/,
    );
    expect(concise).not.toContain('9007199254740991');
    expect(concise).not.toContain('z'.repeat(60));
    expect(concise).toContain('(502 characters)');
  });

  it('cuts overlong tokens and folds long messages into a summary and details', () => {
    expect(shortenTokens(`a ${'x'.repeat(1000)} b`)).toMatch(/^a x{28}… \(1000 characters\) b$/);
    const long = `First part of the problem. ${'More words here. '.repeat(30)}`;
    const { summary, details } = summarise(long);
    expect(summary.length).toBeLessThanOrEqual(182);
    expect(summary.startsWith('First part of the problem.')).toBe(true);
    expect(details).toContain('More words here.');
    expect(summarise('short').details).toBeNull();
  });
});
