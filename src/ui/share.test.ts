import { describe, expect, it } from 'vitest';
import { defaultRunConfig } from '../engine/config';
import { decodeConfigHash, encodeConfigHash, parseConfigFile } from './share';

describe('shared-link config encoding', () => {
  it('round-trips a config through the URL hash', () => {
    const config = defaultRunConfig({
      name: 'shared',
      loss: { id: 'dcl', params: { tau: 0.2 } },
      batchSize: 64,
      views: { large: 2 },
    });
    const hash = encodeConfigHash(config);
    expect(hash.startsWith('#config=')).toBe(true);
    expect(hash).toMatch(/^#config=[A-Za-z0-9_-]+$/); // URL-safe
    expect(decodeConfigHash(hash)).toEqual(config);
  });

  it('returns null for a hash without a config and refuses a damaged one', () => {
    expect(decodeConfigHash('')).toBeNull();
    expect(decodeConfigHash('#other=1')).toBeNull();
    expect(() => decodeConfigHash('#config=not-a-config')).toThrow(/shared link is damaged/);
  });

  it('names the bad field of an edited link', () => {
    const hash = encodeConfigHash({ ...defaultRunConfig(), batchSize: 1 });
    expect(() => decodeConfigHash(hash)).toThrow(/batchSize/);
  });
});

describe('parseConfigFile', () => {
  it('accepts a config and a metric-history JSON that embeds one', () => {
    const config = defaultRunConfig({ name: 'from file' });
    expect(parseConfigFile(JSON.stringify(config), 'c.json')).toEqual(config);
    expect(
      parseConfigFile(JSON.stringify({ config, history: { steps: [], evals: [] } }), 'h.json').name,
    ).toBe('from file');
  });

  it('refuses malformed files with the file name and the reason', () => {
    expect(() => parseConfigFile('{nope', 'bad.json')).toThrow(/bad\.json is not JSON/);
    expect(() => parseConfigFile('[1,2]', 'arr.json')).toThrow(/arr\.json holds an array/);
    expect(() => parseConfigFile(JSON.stringify({ optimizer: { lr: -1 } }), 'lr.json')).toThrow(
      /lr\.json: [\s\S]*optimizer\.lr/,
    );
  });
});
