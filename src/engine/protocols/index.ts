import type { RunConfig } from '../config';
import type { Dataset, DatasetSplit } from '../data/types';
import type { Protocol } from './common';
import { createContrastiveAnalysis } from './contrastive_analysis';
import { createFewShot } from './few_shot';
import { createFineTune } from './fine_tune';

/**
 * The runtime side of config.protocol: what a protocol changes in a run (its data splits, extra loss inputs, an
 * evaluation after each 'eval', a stage after the last step). The trainer calls the hooks of common.ts; the
 * protocols are few_shot.ts, fine_tune.ts and contrastive_analysis.ts.
 */

export type { Protocol, ProtocolContext } from './common';
export type { ProtocolResult } from './results';

/** The protocol of `config` over the loaded splits (null when the config has none); throws on an impossible split. */
export function createProtocol(
  config: RunConfig,
  dataset: Dataset,
  splits: { train: DatasetSplit; test: DatasetSplit },
): Protocol | null {
  const protocol = config.protocol;
  if (!protocol) return null;
  switch (protocol.type) {
    case 'few-shot':
      return createFewShot(protocol, config, dataset, splits);
    case 'fine-tune':
      return createFineTune(protocol, splits);
    case 'contrastive-analysis':
      return createContrastiveAnalysis(protocol, config, dataset, splits);
  }
}
