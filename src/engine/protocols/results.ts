import type { FewShotScore } from '../../metrics/few_shot';

/**
 * What the protocols report (plain data: the 'protocol-eval' events, metrics.jsonl, the UI's history and
 * exports). docs/metrics.md defines every number.
 */

export type { FewShotScore };

/** N-way K-shot accuracy on the held-out classes, one score per K (BECLR's protocol). */
export interface FewShotResult {
  kind: 'few-shot';
  ways: number;
  queries: number;
  episodes: number;
  pretrainClasses: number[];
  heldOutClasses: number[];
  /** The split the held-out images came from. */
  split: 'test' | 'train';
  scores: FewShotScore[];
}

/** One test-accuracy measurement during fine-tuning. */
export interface FineTunePoint {
  /** Fine-tuning steps done. */
  step: number;
  /** Fine-tuning epochs done (fractional). */
  epoch: number;
  /** Mean training loss since the previous point. */
  trainLoss: number;
  testAccuracy: number;
}

export interface FineTuneVariant {
  /** 'plain': cross-entropy only; 'core-tuning': with the contrastive regulariser, hard pairs and mixup. */
  variant: 'plain' | 'core-tuning';
  totalSteps: number;
  points: FineTunePoint[];
}

/** The fine-tuning stage so far (every 'protocol-eval' event of the stage holds all of it; the last has done). */
export interface FineTuneResult {
  kind: 'fine-tune';
  from: 'pretrain' | 'weights';
  /** Linear probe top-1 on the frozen features before fine-tuning (null when off). */
  linearProbe: number | null;
  variants: FineTuneVariant[];
  /** Test images the accuracies are measured on. */
  testImages: number;
  done: boolean;
}

/** What one embedding space tells about the target test images. */
export interface SpaceScores {
  /** kNN top-1 and linear probe top-1 of the salient attribute (which pattern). */
  salientKnn: number;
  salientProbe: number;
  /** The same for the dataset class (the common attribute). */
  classKnn: number;
  classProbe: number;
}

/** Contrastive analysis: the salient attribute and the class recovered from the common and the salient space. */
export interface ContrastiveAnalysisResult {
  kind: 'contrastive-analysis';
  patterns: string[];
  /** Target test images scored and target train images they are compared to. */
  targetImages: number;
  bankImages: number;
  common: SpaceScores;
  /** null when the loss has no salient encoder (a baseline objective on the same data). */
  salient: SpaceScores | null;
  /** Accuracy of a constant guess: 1 / patterns and 1 / classes. */
  chance: { salient: number; class: number };
}

export type ProtocolResult = FewShotResult | FineTuneResult | ContrastiveAnalysisResult;

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** One line summing up a protocol result (the CLI's progress output). */
export function describeProtocolResult(result: ProtocolResult): string {
  switch (result.kind) {
    case 'few-shot':
      return result.scores
        .map(
          (s) =>
            `${result.ways}-way ${s.shots}-shot ${pct(s.accuracy)} +- ${pct(s.ci95)}` +
            (s.optaAccuracy === null ? '' : `, OpTA ${pct(s.optaAccuracy)} +- ${pct(s.optaCi95 ?? 0)}`),
        )
        .join('; ');
    case 'fine-tune': {
      const parts = result.variants.map((v) => {
        const last = v.points[v.points.length - 1];
        return `${v.variant} ${last ? pct(last.testAccuracy) : '-'} (step ${last?.step ?? 0}/${v.totalSteps})`;
      });
      if (result.linearProbe !== null) parts.unshift(`linear probe ${pct(result.linearProbe)}`);
      return `fine-tuning test accuracy: ${parts.join(', ')}${result.done ? '' : ' ...'}`;
    }
    case 'contrastive-analysis': {
      const space = (name: string, s: SpaceScores) =>
        `${name}: pattern kNN ${pct(s.salientKnn)} / probe ${pct(s.salientProbe)}, class kNN ${pct(s.classKnn)} / probe ${pct(s.classProbe)}`;
      return [
        space('common', result.common),
        ...(result.salient ? [space('salient', result.salient)] : []),
      ].join('; ');
    }
  }
}
