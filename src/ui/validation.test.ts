import { describe, expect, it } from 'vitest';
import { defaultRunConfig, parseRunConfig } from '../engine/config';
import { setPath } from './draft';
import { CONFIG_PRESETS, presetById, unlistedExamples } from './presets';
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

describe('field problems in words', () => {
  it('shows one problem per field: the field limit, not the integer-safety limit beside it', () => {
    expect(validateDraft(setPath(defaultRunConfig(), 'batchSize', 1e20)).errors.batchSize).toBe(
      'must be at most 8192',
    );
    expect(validateDraft(setPath(defaultRunConfig(), 'batchSize', 1.5)).errors.batchSize).toBe(
      'must be a whole number',
    );
    expect(validateDraft(setPath(defaultRunConfig(), 'optimizer.lr', 0)).errors['optimizer.lr']).toBe(
      'must be greater than 0',
    );
  });
});

describe('presets', () => {
  it('are the example configs, each a valid RunConfig, every example listed once', () => {
    for (const preset of CONFIG_PRESETS) {
      expect(() => parseRunConfig(preset.config), preset.id).not.toThrow();
    }
    expect(unlistedExamples()).toEqual([]);
    expect(new Set(CONFIG_PRESETS.map((p) => p.id)).size).toBe(CONFIG_PRESETS.length);
    expect(CONFIG_PRESETS[0].id).toBe('simclr-fashion');
    expect(presetById('tiny')?.file).toBe('examples/tiny-synthetic.json');
    expect(parseRunConfig(presetById('mv-dhel')?.config).views.large).toBe(4);
  });
});
