import { describe, expect, it } from 'vitest';
import { defaultRunConfig, protocolSchema, PROTOCOL_TYPES } from '../engine/config';
import { validateDraft } from './validation';

describe('the Protocol section of the config panel', () => {
  it('starts every protocol from a complete, valid set of defaults', () => {
    for (const type of PROTOCOL_TYPES) {
      const loss =
        type === 'contrastive-analysis' ? { id: 'sepclr', params: {} } : { id: 'ntxent', params: {} };
      const draft = { ...defaultRunConfig(), loss, protocol: protocolSchema.parse({ type }) };
      const { config, errors } = validateDraft(draft);
      expect(errors).toEqual({});
      expect(config?.protocol?.type).toBe(type);
    }
  });

  it('names the protocol field when SepCLR is chosen without contrastive analysis', () => {
    const { config, errors } = validateDraft({ ...defaultRunConfig(), loss: { id: 'sepclr', params: {} } });
    expect(config).toBeNull();
    expect(errors.protocol).toMatch(/set protocol.type to 'contrastive-analysis'/);
  });

  it('shows a bad protocol field under its own path', () => {
    const { errors } = validateDraft({ ...defaultRunConfig(), protocol: { type: 'few-shot', ways: 1 } });
    expect(Object.keys(errors)).toEqual(['protocol.ways']);
  });
});
