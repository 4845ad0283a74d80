// Zbontar et al. (ICML 2021), Bardes et al. (ICLR 2022): redundancy reduction without negatives.
import { FULL_BASE, QUICK_BASE, armsAxis, merge } from './bases';
import { Measurements, formatMetric, formatPoints, makeVerdict } from './verdict';
import type { ExperimentDefinition } from './types';

/** Relative margin for "exceeds" on effective ranks. */
const RANK_TOLERANCE = 0.05;
/** kNN top-1 margin (a fraction) of "on par". */
const KNN_TOLERANCE = 0.02;

const ARMS = [
  { label: 'ntxent', name: 'NT-Xent', set: { loss: { id: 'ntxent', params: { tau: 0.5 } } } },
  {
    label: 'barlow_twins',
    name: 'Barlow Twins',
    set: { loss: { id: 'barlow_twins', params: { lambda: 0.0051 } } },
  },
  { label: 'vicreg', name: 'VICReg', set: { loss: { id: 'vicreg', params: { sim: 25, var: 25, cov: 1 } } } },
];

export const redundancyReduction: ExperimentDefinition = {
  id: 'redundancy-reduction',
  title: 'Redundancy reduction without negatives: Barlow Twins and VICReg',
  paper: {
    authors: 'J. Zbontar, L. Jing, I. Misra, Y. LeCun, S. Deny; A. Bardes, J. Ponce, Y. LeCun',
    title:
      'Barlow Twins: Self-Supervised Learning via Redundancy Reduction; VICReg: Variance-Invariance-Covariance ' +
      'Regularization for Self-Supervised Learning',
    year: 2021,
    venue: 'ICML 2021; ICLR 2022',
    arxiv: '2103.03230, 2105.04906',
  },
  claim:
    'Barlow Twins and VICReg learn without negative pairs a representation on par with NT-Xent, and their ' +
    'decorrelation terms keep the embedding z higher-rank than NT-Xent does.',
  paperStatement:
    'Barlow Twins drives the cross-correlation matrix of the two views\' embeddings to the identity, "minimizing the ' +
    'redundancy between the components of these vectors"; VICReg keeps the variance of every dimension above a threshold and ' +
    'decorrelates pairs of dimensions, which prevents "an informational collapse in which the variables would vary ' +
    'together". Both need neither negatives nor large batches and perform on par with the contrastive state of the ' +
    'art (ImageNet linear evaluation). The rank part is what their decorrelation objectives are built to do; the ' +
    'papers report accuracy, not rank, so part (1) tests the mechanism and part (2) the reported result.',
  grid: [
    armsAxis(
      'loss',
      'objective',
      ARMS.map(({ label, set }) => ({ label, set })),
    ),
  ],
  scales: {
    quick: {
      description:
        'Fashion-MNIST (10,000 images), ConvNet, the same 3-layer projector 512 -> 512 for all, 312 steps, one seed',
      base: merge(QUICK_BASE, { projector: { layers: 3, hidden: 512, out: 512, batchNorm: true } }),
      seeds: [0],
    },
    full: {
      description:
        'CIFAR-10, ResNet-18, the same 3-layer projector 2048 -> 2048 for all, 200 epochs at batch 256, three seeds',
      base: merge(FULL_BASE, { projector: { layers: 3, hidden: 2048, out: 2048, batchNorm: true } }),
      seeds: [0, 1, 2],
    },
  },
  plots: [
    { kind: 'metric', metric: 'effectiveRank', representation: 'z' },
    { kind: 'spectrum', representation: 'z' },
    { kind: 'metric', metric: 'knnTop1', representation: 'h' },
    { kind: 'plane', representation: 'z' },
    { kind: 'loss' },
  ],
  verdict: {
    description:
      'On the final evaluation (seed means), for Barlow Twins and for VICReg: (1) effective rank(z) exceeds ' +
      "NT-Xent's, and (2) kNN top-1(h) is at least NT-Xent's minus the tolerance. All four comparisons must hold.",
    tolerance: `ranks: larger by more than ${RANK_TOLERANCE * 100}%; kNN: on par within ${KNN_TOLERANCE * 100} percentage points`,
    notReproduced:
      'At the quick scale the redundancy-reduction losses, which the papers train for hundreds of epochs with ' +
      'wide projectors, may not have caught up in kNN; a failed part (2) there is about the budget.',
    decide(runs) {
      const m = new Measurements(runs);
      const erank = ARMS.map((arm) => m.get({ loss: arm.label }, 'z', 'effectiveRank'));
      const knn = ARMS.map((arm) => m.get({ loss: arm.label }, 'h', 'knnTop1'));
      const notes: string[] = [];
      let holds = true;
      const parts = ARMS.slice(1).map((arm, k) => {
        const i = k + 1;
        const rankHigher = erank[i] > erank[0] * (1 + RANK_TOLERANCE);
        const onPar = knn[i] - knn[0] >= -KNN_TOLERANCE;
        holds &&= rankHigher && onPar;
        notes.push(
          `${arm.name}: rank ${rankHigher ? 'exceeds' : 'does not exceed'} NT-Xent's; kNN ${onPar ? 'on par' : 'below NT-Xent'}`,
        );
        return (
          `${arm.name} effective rank(z) ${formatMetric('effectiveRank', erank[i])} and kNN(h) ` +
          `${formatMetric('knnTop1', knn[i])} (${formatPoints(knn[i] - knn[0])})`
        );
      });
      return makeVerdict(
        m,
        holds ? 'holds' : 'does not hold',
        `${parts.join('; ')}; NT-Xent ${formatMetric('effectiveRank', erank[0])} and ${formatMetric('knnTop1', knn[0])}`,
        {
          columns: ['objective', 'effective rank(z)', 'kNN top-1(h)'],
          rows: ARMS.map((arm, i) => [
            arm.name,
            formatMetric('effectiveRank', erank[i]),
            formatMetric('knnTop1', knn[i]),
          ]),
        },
        notes,
      );
    },
  },
};
