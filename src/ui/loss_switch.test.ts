import { describe, expect, it } from 'vitest';
import { defaultRunConfig } from '../engine/config';
import { draftWithLoss } from './loss_switch';
import { validateDraft } from './validation';

const draft = (views: { large: number; small: number }) => ({
  ...defaultRunConfig(),
  views: { ...defaultRunConfig().views, ...views },
});

describe('draftWithLoss', () => {
  it('moves the view counts into the range of the loss picked, with its default params', () => {
    const cmim = draftWithLoss(draft({ large: 2, small: 0 }), 'cmim') as ReturnType<typeof draft>;
    expect(cmim.views).toMatchObject({ large: 1, small: 0 });
    expect(cmim.loss).toEqual({ id: 'cmim', params: {} });
    expect(validateDraft(cmim).config).not.toBeNull();

    const pixpro = draftWithLoss(draft({ large: 2, small: 4 }), 'pixpro') as ReturnType<typeof draft>;
    expect(pixpro.views).toMatchObject({ large: 2, small: 0 });
    expect(validateDraft(pixpro).config).not.toBeNull();

    // back from one view to a two-view loss; multi-crop kept where the loss takes it
    const ntxent = draftWithLoss(cmim, 'ntxent') as ReturnType<typeof draft>;
    expect(ntxent.views).toMatchObject({ large: 2, small: 0 });
    const swav = draftWithLoss(draft({ large: 2, small: 4 }), 'swav') as ReturnType<typeof draft>;
    expect(swav.views).toMatchObject({ large: 2, small: 4 });
    const dcl = draftWithLoss(draft({ large: 4, small: 0 }), 'dcl') as ReturnType<typeof draft>;
    expect(dcl.views).toMatchObject({ large: 2, small: 0 });
  });

  it('leaves views that are not numbers yet to their field errors', () => {
    const typed = draftWithLoss(
      { ...draft({ large: 2, small: 0 }), views: { large: '2x', small: 0 } },
      'cmim',
    );
    expect((typed as { views: { large: unknown } }).views.large).toBe('2x');
  });
});

describe('draftWithLoss and regression targets', () => {
  it('resets the parameters and gives a regression loss a target when the draft has none', () => {
    const draft = { dataset: { id: 'synthetic' }, loss: { id: 'ntxent', params: { tau: 0.3 } } };
    expect(draftWithLoss(draft, 'supremix')).toEqual({
      dataset: { id: 'synthetic', target: 'size' },
      loss: { id: 'supremix', params: {} },
    });
    expect(
      draftWithLoss(
        { dataset: { id: 'fashion-mnist', target: 'class' }, augment: { flip: 0.5 } },
        'supremix',
      ),
    ).toEqual({
      dataset: { id: 'fashion-mnist', target: 'rotation' },
      augment: { flip: 0 },
      loss: { id: 'supremix', params: {} },
    });
    // a target already chosen is kept; other losses leave the dataset alone
    expect(draftWithLoss({ dataset: { id: 'synthetic', target: 'rotation' } }, 'supremix')).toEqual({
      dataset: { id: 'synthetic', target: 'rotation' },
      loss: { id: 'supremix', params: {} },
    });
    expect(draftWithLoss(draft, 'mcl')).toEqual({
      dataset: { id: 'synthetic' },
      loss: { id: 'mcl', params: {} },
    });
  });
});
