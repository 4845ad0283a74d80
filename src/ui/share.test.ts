import { describe, expect, it } from 'vitest';
import { defaultRunConfig } from '../engine/config';
import { deflateSync, strToU8 } from 'fflate';
import { decodeConfigHash, encodeConfigHash, MAX_LINK_CHARS, parseConfigFile } from './share';

/** A link whose #config= part is deflate(text), as an attacker or a broken tool would make it. */
function linkTo(text: string): string {
  const bytes = deflateSync(strToU8(text), { level: 9 });
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `#config=${btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}`;
}

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

describe('hostile shared links', () => {
  it('refuses an overlong link before decoding it, with a short message', () => {
    const error = (() => {
      try {
        decodeConfigHash(`#config=${'A'.repeat(MAX_LINK_CHARS + 1)}`);
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    })();
    expect(error).toMatch(/the shared link is too long/);
    expect(error.length).toBeLessThan(200);
  });

  it('stops a link that inflates past the limit (a deflate bomb)', () => {
    const bomb = linkTo(' '.repeat(4_000_000)); // a few KB that unpack to 4 MB
    expect(bomb.length).toBeLessThan(MAX_LINK_CHARS);
    expect(() => decodeConfigHash(bomb)).toThrow(/unpacks to more than 32 KiB/);
  });

  it('never echoes a long value from the link whole, and names one problem per field', () => {
    const config = { ...defaultRunConfig(), name: 'y'.repeat(5000), batchSize: 1e20 };
    let message = '';
    try {
      decodeConfigHash(linkTo(JSON.stringify(config)));
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^the shared link holds an invalid config: /);
    expect(message).toContain('batchSize must be at most 8192');
    expect(message).not.toContain('9007199254740991');
    expect(message).toContain('name must have at most 200 characters');
    expect(message).not.toContain('y'.repeat(100));
    expect(message.length).toBeLessThan(300);
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
