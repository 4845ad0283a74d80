import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LOSS_CATALOG } from '../losses/catalog';
import { defaultRunConfig, parseRunConfig, viewCount } from './config';

describe('RunConfig', () => {
  it('fills every default: fashion-mnist, small resnet, ntxent with its documented tau', () => {
    const config = defaultRunConfig();
    expect(config.dataset.id).toBe('fashion-mnist');
    expect(config.encoder).toEqual({ type: 'resnet', widths: [32, 64, 128], blocks: [1, 1, 1] });
    expect(config.loss).toEqual({ id: 'ntxent', params: { tau: 0.5 } });
    expect(config.augment.crop!.scale).toEqual([0.08, 1]);
    expect(viewCount(config)).toBe(2);
    expect(config.eval.size).toBe(2048);
  });

  it('fills loss params from the loss table for every loss', () => {
    for (const [id, def] of Object.entries(LOSS_CATALOG)) {
      const views = Math.max(2, Math.min(def.minViews, def.maxViews));
      const config = parseRunConfig({ loss: { id }, views: { large: views } });
      for (const [name, spec] of Object.entries(def.params))
        expect(config.loss.params[name]).toBe(spec.default);
    }
  });

  it('lists every bad field with its path, the rule and the value given', () => {
    let message = '';
    try {
      parseRunConfig({
        batchSize: 1,
        optimizer: { lr: -1 },
        augment: { flip: 2 },
        loss: { id: 'ntxent', params: { tau: 0 } },
      });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/batchSize: .*>=2.*\(got 1\)/);
    expect(message).toMatch(/optimizer\.lr: .*\(got -1\)/);
    expect(message).toMatch(/augment\.flip: .*\(got 2\)/);
    expect(message).toMatch(/tau must be in \[0\.01, 10\], got 0/);
  });

  it('rejects unknown losses, unknown loss params, and view counts the loss cannot take', () => {
    expect(() => parseRunConfig({ loss: { id: 'nope' } })).toThrow(/loss\.id/);
    expect(() => parseRunConfig({ loss: { id: 'ntxent', params: { temperature: 1 } } })).toThrow(
      /no parameter 'temperature'.*tau/,
    );
    expect(() => parseRunConfig({ loss: { id: 'barlow_twins' }, views: { large: 4 } })).toThrow(
      /needs 2 views in total, the config gives 4/,
    );
    expect(() => parseRunConfig({ encoder: { type: 'mlp', hidden: [8] }, views: { small: 2 } })).toThrow(
      /global pooling/,
    );
    expect(() => parseRunConfig({ encoder: { type: 'resnet', widths: [8, 16], blocks: [1] } })).toThrow(
      /same length/,
    );
    expect(() => parseRunConfig({ augment: { crop: { scale: [0.9, 0.1] } } })).toThrow(
      /first value must be <= the second/,
    );
  });

  it('takes projector.layers 0 as "no projector" and refuses negative or too many layers', () => {
    expect(parseRunConfig({ projector: { layers: 0 } }).projector.layers).toBe(0);
    expect(() => parseRunConfig({ projector: { layers: -1 } })).toThrow(/projector\.layers: .*\(got -1\)/);
    expect(() => parseRunConfig({ projector: { layers: 5 } })).toThrow(/projector\.layers: .*\(got 5\)/);
  });

  it('parses every example config', () => {
    const files = readdirSync('examples').filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const file of files) {
      const config = parseRunConfig(JSON.parse(readFileSync(`examples/${file}`, 'utf8')));
      expect(config.name).toBe(file.replace('.json', ''));
    }
  });
});
