import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LOSS_CATALOG, nearestName, resolveLossParams } from '../losses/catalog';
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
      // two views where the loss takes two, else the nearest count it takes (cmim: one)
      const views = Math.min(Math.max(2, def.minViews), def.maxViews);
      // sepclr trains only within its contrastive-analysis protocol
      const protocol = id === 'sepclr' ? { protocol: { type: 'contrastive-analysis' as const } } : {};
      const dataset = { target: def.needsTargets ? ('rotation' as const) : ('class' as const) };
      const config = parseRunConfig({ loss: { id }, views: { large: views }, dataset, ...protocol });
      for (const [name, spec] of Object.entries(def.params))
        expect(config.loss.params[name]).toBe(spec.default);
    }
  });

  it('refuses what a pixel-pair loss cannot use: an mlp encoder, small views, per-view BatchNorm', () => {
    const bad = {
      loss: { id: 'pixpro' },
      encoder: { type: 'mlp', hidden: [8] },
      views: { large: 1, small: 1 },
      nn: { batchNormViews: 'per-view' },
    };
    expect(() => parseRunConfig(bad)).toThrow(
      /encoder: loss 'pixpro' pairs pixels of the backbone's spatial map; the mlp encoder has none, use convnet or resnet/,
    );
    expect(() => parseRunConfig(bad)).toThrow(
      /views\.small: loss 'pixpro' compares two views of the same size/,
    );
    expect(() => parseRunConfig(bad)).toThrow(
      /nn\.batchNormViews: loss 'pixpro' runs its two views through BatchNorm together; set nn\.batchNormViews to 'joint'/,
    );
    expect(
      parseRunConfig({ loss: { id: 'pixpro' }, encoder: { type: 'convnet', channels: [4] } }).loss.id,
    ).toBe('pixpro');
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

  it('refuses unknown fields at every level, naming the nearest valid one', () => {
    const message = (input: unknown) => {
      try {
        parseRunConfig(input);
      } catch (err) {
        return (err as Error).message;
      }
      return 'accepted';
    };
    expect(message({ batchsize: 64 })).toMatch(
      /batchsize: unknown field 'batchsize' \(did you mean 'batchSize'\?\)/,
    );
    expect(message({ optimizer: { learningrate: 0.1, lr: 0.1 } })).toMatch(
      /optimizer\.learningrate: unknown field/,
    );
    expect(message({ optimizer: { momentun: 0.9 } })).toMatch(
      /optimizer\.momentun: unknown field 'momentun' \(did you mean 'momentum'\?\)/,
    );
    expect(message({ eval: { evry: 10 } })).toMatch(
      /eval\.evry: unknown field 'evry' \(did you mean 'every'\?\)/,
    );
    expect(message({ dataset: { synthetic: { sise: 8 } } })).toMatch(
      /dataset\.synthetic\.sise: unknown field 'sise' \(did you mean 'size'\?\)/,
    );
    expect(message({ augment: { crop: { scales: [0.2, 1] } } })).toMatch(/augment\.crop\.scales: .*'scale'/);
    expect(message({ encoder: { type: 'mlp', hidden: [8], channels: [8] } })).toMatch(
      /encoder\.channels: unknown field 'channels'; the fields here are: type, hidden/,
    );
    // two at once, each on its own line
    expect(
      message({ batchsize: 1, seeed: 2 })
        .split('\n')
        .filter((l) => /unknown field/.test(l)),
    ).toHaveLength(2);
    expect(message({ loss: { id: 'ntxent', params: { tua: 0.2 } } })).toMatch(
      /no parameter 'tua' \(did you mean 'tau'\?\); its parameters are: tau/,
    );
    expect(message({ totallyDifferent: 1 })).toMatch(
      /unknown field 'totallyDifferent'; the fields here are: name, dataset/,
    );
  });

  it('refuses null, arrays and other non-objects; {} takes every default', () => {
    expect(() => parseRunConfig(null)).toThrow(/\(root\): the config is null; it must be a JSON object/);
    expect(() => parseRunConfig(undefined)).toThrow(/the config is undefined/);
    expect(() => parseRunConfig([])).toThrow(/the config is an array/);
    expect(() => parseRunConfig('{}')).toThrow(/the config is string/);
    expect(parseRunConfig({}).batchSize).toBe(256);
  });

  it('nearestName suggests only close names, case-insensitively', () => {
    expect(nearestName('batchsize', ['batchSize', 'seed'])).toBe('batchSize');
    expect(nearestName('lr', ['lr', 'eps'])).toBe('lr');
    expect(nearestName('xyz', ['batchSize', 'epochs'])).toBeNull();
    expect(() => resolveLossParams('ntxent', { temprature: 1 })).toThrow(
      /did you mean 'tau'\?|its parameters are: tau/,
    );
  });
});
