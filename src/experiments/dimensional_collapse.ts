// Jing et al. (ICLR 2022): contrastive embeddings collapse dimensionally; the projector shields the representation.
import { FULL_BASE, QUICK_BASE, armsAxis, merge } from './bases';
import { Measurements, formatMetric, makeVerdict } from './verdict';
import type { ExperimentDefinition, GridAxis } from './types';

/** Relative margin: one rank "exceeds" another when it is larger by more than this fraction. */
const RANK_TOLERANCE = 0.05;

const loss = { loss: { id: 'ntxent', params: { tau: 0.5 } } };
const projectorAxis = (hidden: number, out: number): GridAxis =>
  armsAxis('projector', 'projector', [
    { label: 'mlp', set: { projector: { layers: 2, hidden, out, batchNorm: true } } },
    { label: 'none', set: { projector: { layers: 0, hidden, out, batchNorm: true } } },
  ]);

export const dimensionalCollapse: ExperimentDefinition = {
  id: 'dimensional-collapse',
  title: 'Dimensional collapse and the projector',
  paper: {
    authors: 'L. Jing, P. Vincent, Y. LeCun, Y. Tian',
    title: 'Understanding Dimensional Collapse in Contrastive Self-supervised Learning',
    year: 2022,
    venue: 'ICLR',
    arxiv: '2110.09348',
  },
  claim:
    'NT-Xent collapses the embedding z onto fewer dimensions than the backbone representation h keeps behind a ' +
    'projector; trained without a projector, the representation itself collapses.',
  paperStatement:
    'Jing et al. show that contrastive learning (SimCLR) suffers dimensional collapse: the singular value spectrum ' +
    'of the embedding covariance drops to ~0 after a fraction of the dimensions, driven by strong augmentation and ' +
    'implicit regularisation. The representation before the projector keeps a fuller spectrum, and SimCLR trained ' +
    'without a projector has a collapsed representation space (and a lower linear-probe accuracy); the projector ' +
    'is what prevents the collapse from reaching the representation, which motivates their DirectCLR.',
  grid: [projectorAxis(256, 128)],
  scales: {
    quick: {
      description:
        'Fashion-MNIST (10,000 images), ConvNet (h: 128 dims), projector 256 -> 128 or none, 312 steps, one seed',
      base: merge(QUICK_BASE, loss),
      seeds: [0],
    },
    full: {
      description:
        'CIFAR-10, ResNet-18 (h: 512 dims), projector 2048 -> 128 or none, 200 epochs at batch 256, one seed',
      base: merge(FULL_BASE, loss),
      grid: [projectorAxis(2048, 128)],
      seeds: [0],
    },
  },
  plots: [
    { kind: 'spectrum', representation: 'h' },
    { kind: 'spectrum', representation: 'z' },
    { kind: 'metric', metric: 'spectrumRank', representation: 'h' },
    { kind: 'metric', metric: 'spectrumRank', representation: 'z' },
    { kind: 'metric', metric: 'knnTop1', representation: 'h' },
  ],
  verdict: {
    description:
      'On the final evaluation, with r = the effective rank of the spectrum (of the covariance of the normalised ' +
      'embeddings, which is where Jing et al. read collapse; the uncentred effective rank would count the mean ' +
      'direction of non-negative ReLU features h as a used dimension): ' +
      '(1) with the projector, r(h) > r(z) (the embedding is more collapsed than the representation), and (2) ' +
      'r(h) with the projector > r(h) without one (without a projector the representation collapses). Both must hold.',
    tolerance: `a rank exceeds another when it is larger by more than ${RANK_TOLERANCE * 100}% of it`,
    notReproduced:
      'At the quick scale the spectra are those of a briefly trained ConvNet; collapse builds up over training, ' +
      'so a part that fails there may simply not have developed yet. The full scale is the test.',
    decide(runs) {
      const m = new Measurements(runs);
      const hWith = m.get({ projector: 'mlp' }, 'h', 'spectrumRank');
      const zWith = m.get({ projector: 'mlp' }, 'z', 'spectrumRank');
      const hWithout = m.get({ projector: 'none' }, 'h', 'spectrumRank');
      const erank = (projector: string, rep: 'h' | 'z') => m.get({ projector }, rep, 'effectiveRank');
      const knn = (projector: string) => m.get({ projector }, 'h', 'knnTop1');
      const embeddingCollapses = hWith > zWith * (1 + RANK_TOLERANCE);
      const projectorShields = hWith > hWithout * (1 + RANK_TOLERANCE);
      const f = (value: number) => formatMetric('spectrumRank', value);
      return makeVerdict(
        m,
        embeddingCollapses && projectorShields ? 'holds' : 'does not hold',
        `spectrum rank h ${f(hWith)} / z ${f(zWith)} with the projector, h ${f(hWithout)} without it`,
        {
          columns: [
            'projector',
            'spectrum rank(h)',
            'spectrum rank(z)',
            'effective rank(h)',
            'effective rank(z)',
            'kNN(h)',
          ],
          rows: ['mlp', 'none'].map((projector) => [
            projector,
            f(m.get({ projector }, 'h', 'spectrumRank')),
            f(m.get({ projector }, 'z', 'spectrumRank')),
            formatMetric('effectiveRank', erank(projector, 'h')),
            formatMetric('effectiveRank', erank(projector, 'z')),
            formatMetric('knnTop1', knn(projector)),
          ]),
        },
        [
          `(1) the embedding z is ${embeddingCollapses ? 'more' : 'not more'} collapsed than h behind the projector`,
          `(2) without a projector h is ${projectorShields ? 'more' : 'not more'} collapsed than with one`,
        ],
      );
    },
  },
};
