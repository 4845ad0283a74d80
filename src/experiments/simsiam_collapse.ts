// Chen & He (CVPR 2021): SimSiam collapses without its stop-gradient or without its predictor.
import { FULL_BASE, QUICK_BASE, armsAxis, merge } from './bases';
import { Measurements, formatMetric, makeVerdict } from './verdict';
import type { ExperimentDefinition, GridAxis } from './types';

/** std x sqrt(D) of norm(z) below this: collapsed (the output varies at a tenth of what evenly spread vectors do). */
const COLLAPSED_BELOW = 0.1;
/** ... above this: not collapsed (within a factor of 2 of evenly spread unit vectors). */
const SPREAD_ABOVE = 0.5;

const ARM_LABELS = ['simsiam', 'no-stop-gradient', 'no-predictor'] as const;
const armAxis = (predHidden: number): GridAxis =>
  armsAxis('variant', 'SimSiam variant', [
    {
      label: 'simsiam',
      set: { loss: { id: 'simsiam', params: { predHidden, stopGradient: 1, predictor: 1 } } },
    },
    {
      label: 'no-stop-gradient',
      set: { loss: { id: 'simsiam', params: { predHidden, stopGradient: 0, predictor: 1 } } },
    },
    {
      label: 'no-predictor',
      set: { loss: { id: 'simsiam', params: { predHidden, stopGradient: 1, predictor: 0 } } },
    },
  ]);

/** Chen & He's optimiser: SGD with momentum and weight decay (their CIFAR recipe: lr 0.03 x batch / 256, wd 5e-4). */
const sgd = (lr: number) => ({
  optimizer: { type: 'sgd', lr, momentum: 0.9, weightDecay: 5e-4 },
  schedule: { type: 'cosine', warmupEpochs: 0 },
});

export const simsiamCollapse: ExperimentDefinition = {
  id: 'simsiam-collapse',
  title: 'Collapse without stop-gradient or predictor',
  paper: {
    authors: 'X. Chen, K. He',
    title: 'Exploring Simple Siamese Representation Learning',
    year: 2021,
    venue: 'CVPR',
    arxiv: '2011.10566',
  },
  claim:
    'SimSiam learns without negatives, but removing either its stop-gradient or its predictor collapses the ' +
    'output to a constant: the std of the normalised output falls to ~0 and its effective rank toward 1.',
  paperStatement:
    'Chen & He: "collapsing solutions do exist for the loss and structure, but a stop-gradient operation plays an ' +
    'essential role in preventing collapsing". Without the stop-gradient the loss quickly reaches its minimum -1 and ' +
    'the per-channel std of the l2-normalised output goes to 0, while with it the std stays near 1/sqrt(d) (their ' +
    'Fig. 2); removing the predictor (p = z) also collapses (0.1% linear accuracy, their Table 1).',
  grid: [armAxis(32)],
  scales: {
    quick: {
      description:
        'Fashion-MNIST (10,000 images), ConvNet, projector 256 -> 128, predictor 128 -> 32 -> 128, SGD, 312 steps',
      base: merge(QUICK_BASE, sgd(0.05)),
      seeds: [0],
    },
    full: {
      description:
        'CIFAR-10, ResNet-18, projector 2048 -> 2048, predictor 2048 -> 512 -> 2048, SGD, 200 epochs',
      base: merge(FULL_BASE, {
        ...sgd(0.06),
        projector: { layers: 2, hidden: 2048, out: 2048, batchNorm: true },
      }),
      grid: [armAxis(512)],
      seeds: [0],
    },
  },
  plots: [
    { kind: 'metric', metric: 'stdRatio', representation: 'z' },
    { kind: 'metric', metric: 'effectiveRank', representation: 'z' },
    { kind: 'loss' },
    { kind: 'metric', metric: 'knnTop1', representation: 'h' },
    { kind: 'spectrum', representation: 'z' },
  ],
  verdict: {
    description:
      'On the final evaluation, with s = std x sqrt(D) of norm(z) (1 for evenly spread unit vectors, 0 for a constant ' +
      `output): SimSiam itself is not collapsed (s > ${SPREAD_ABOVE}) and both ablations are (s < ${COLLAPSED_BELOW}). ` +
      'Inconclusive when SimSiam itself ends between the two thresholds or collapsed: then the recipe failed at ' +
      'this scale and the ablations cannot be compared with it.',
    tolerance: `collapsed: s < ${COLLAPSED_BELOW}; not collapsed: s > ${SPREAD_ABOVE}`,
    notReproduced:
      'Collapse without the stop-gradient is fast in the paper (within the first epochs), so an ablation that stays ' +
      'spread at the quick scale is a real difference from the paper at that scale; the no-predictor collapse may ' +
      'take longer to show.',
    decide(runs) {
      const m = new Measurements(runs);
      const s = ARM_LABELS.map((variant) => m.get({ variant }, 'z', 'stdRatio'));
      const erank = ARM_LABELS.map((variant) => m.get({ variant }, 'z', 'effectiveRank'));
      const knn = ARM_LABELS.map((variant) => m.get({ variant }, 'h', 'knnTop1'));
      const finalLoss = ARM_LABELS.map((variant) => {
        const run = runs.find((r) => r.point.variant === variant);
        return run?.history.steps.at(-1)?.loss ?? Number.NaN;
      });
      const baselineSpread = s[0] > SPREAD_ABOVE;
      const ablationsCollapse = s[1] < COLLAPSED_BELOW && s[2] < COLLAPSED_BELOW;
      const observed =
        `std x sqrt(D) of norm(z) ${ARM_LABELS.map((label, i) => `${formatMetric('stdRatio', s[i])} (${label})`).join(', ')}; ` +
        `effective rank(z) ${erank.map((value) => formatMetric('effectiveRank', value)).join(' / ')}`;
      const table = {
        columns: ['variant', 'std x sqrt(D) of norm(z)', 'effective rank(z)', 'final loss', 'kNN(h)'],
        rows: ARM_LABELS.map((label, i) => [
          label,
          formatMetric('stdRatio', s[i]),
          formatMetric('effectiveRank', erank[i]),
          Number.isFinite(finalLoss[i]) ? finalLoss[i].toFixed(3) : 'n/a',
          formatMetric('knnTop1', knn[i]),
        ]),
      };
      if (m.problems.length === 0 && !baselineSpread) {
        return {
          status: 'inconclusive',
          observed: `Observed: ${observed}: inconclusive`,
          table,
          notes: [
            `SimSiam itself ends at s = ${formatMetric('stdRatio', s[0])}, not above ${SPREAD_ABOVE}: the baseline ` +
              'did not stay spread at this scale, so the ablations have nothing to collapse relative to',
          ],
        };
      }
      return makeVerdict(m, ablationsCollapse ? 'holds' : 'does not hold', observed, table, [
        `no-stop-gradient ${s[1] < COLLAPSED_BELOW ? 'collapses' : 'does not collapse'}`,
        `no-predictor ${s[2] < COLLAPSED_BELOW ? 'collapses' : 'does not collapse'}`,
      ]);
    },
  },
};
