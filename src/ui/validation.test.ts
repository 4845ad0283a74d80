import { describe, expect, it } from 'vitest';
import { defaultRunConfig, parseRunConfig } from '../engine/config';
import { setPath } from './draft';
import { CONFIG_PRESETS } from './presets';
import { validateDraft } from './validation';

describe('validateDraft', () => {
  it('accepts a default config', () => {
    const { config, errors } = validateDraft(defaultRunConfig());
    expect(errors).toEqual({});
    expect(config?.batchSize).toBe(256);
  });

  it('puts each problem at its field', () => {
    let draft = setPath(defaultRunConfig(), 'optimizer.lr', -1);
    draft = setPath(draft, 'batchSize', 'abc');
    draft = setPath(draft, 'loss.params.tau', 50);
    const { config, errors } = validateDraft(draft);
    expect(config).toBeNull();
    expect(Object.keys(errors).sort()).toEqual(['batchSize', 'loss.params.tau', 'optimizer.lr']);
    expect(errors['loss.params.tau']).toMatch(/tau must be in \[0\.01, 10\]/);
  });

  it('reports cross-field problems (views vs loss) at the views field', () => {
    const draft = setPath(
      setPath(defaultRunConfig(), 'loss', { id: 'barlow_twins', params: {} }),
      'views.large',
      4,
    );
    const { config, errors } = validateDraft(draft);
    expect(config).toBeNull();
    expect(errors.views).toMatch(/barlow_twins.*needs 2 views/);
  });
});

describe('presets', () => {
  it('every preset is a valid RunConfig', () => {
    for (const preset of CONFIG_PRESETS) {
      expect(() => parseRunConfig(preset.config), preset.id).not.toThrow();
    }
    expect(CONFIG_PRESETS.map((p) => p.id)).toEqual([
      'simclr-cifar',
      'simclr-fashion',
      'supcon',
      'barlow',
      'mv-dhel',
      'tiny',
    ]);
    expect(parseRunConfig(CONFIG_PRESETS.find((p) => p.id === 'mv-dhel')?.config).views.large).toBe(4);
  });
});
