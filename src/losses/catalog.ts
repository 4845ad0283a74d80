/**
 * The catalogue of objectives: every loss id with its display name, one-line description, the views and labels it
 * needs and its parameters (default, valid range, help). Plain data without tfjs, so that the config schema, the UI
 * and the CLI read it without loading the engine. The objectives themselves: pure losses in this folder, stateful
 * methods in src/methods/ (methods/registry.ts maps each id to its factory). Formulas: docs/losses.md.
 */

/** Every objective the project implements. */
export const LOSS_IDS = [
  'ntxent',
  'dcl',
  'dclw',
  'supcon',
  'mv_infonce',
  'mv_dhel',
  'align_uniform',
  'barlow_twins',
  'vicreg',
  'cacr',
  'clip',
  'mnr',
  'moco',
  'byol',
  'simsiam',
  'swav',
  'hydra',
  'amcl',
  'beclr',
  'sepclr',
  'pixpro',
  'cmim',
  'mcl',
  'supremix',
  'm3col',
] as const;
export type LossId = (typeof LOSS_IDS)[number];

/** A numeric hyperparameter: default, valid closed range, whether it must be an integer, and a one-line help. */
export interface ParamSpec {
  default: number;
  min: number;
  max: number;
  integer?: boolean;
  /** true when the bound is open (value must be strictly greater than min). */
  exclusiveMin?: boolean;
  help: string;
}

export interface LossInfo {
  readonly id: LossId;
  /** Display name, e.g. "NT-Xent (SimCLR)". */
  readonly name: string;
  /** One line: what it does and the paper. */
  readonly description: string;
  /** 'loss': a pure function of the views; 'method': a recipe that owns networks or buffers (src/methods/). */
  readonly kind: 'loss' | 'method';
  /** Minimum / maximum number of views (maxViews = Infinity for any). */
  readonly minViews: number;
  readonly maxViews: number;
  readonly needsLabels: boolean;
  /** Trains on a continuous regression target per image (a run needs dataset.target other than 'class'). */
  readonly needsTargets?: boolean;
  /**
   * For objectives that train in stages (reported as `stage` on step and eval events): the name of stage n is
   * stageLabels[n - 1], else "stage n".
   */
  readonly stageLabels?: readonly string[];
  readonly params: Readonly<Record<string, ParamSpec>>;
  /**
   * What the trainer feeds it: 'augmented' (the default when absent) views made by the augment section;
   * 'geometry' the same views plus each view's crop box and flip (pixel correspondences; needs an encoder with a
   * spatial map, convnet or resnet, and same-size views); 'clean' the images without any augmentation, as one view
   * (the augment section is ignored).
   */
  readonly inputs?: 'augmented' | 'geometry' | 'clean';
}

export const LOSS_CATALOG: Readonly<Record<LossId, LossInfo>> = {
  ntxent: {
    id: 'ntxent',
    kind: 'loss',
    name: 'NT-Xent (SimCLR)',
    description:
      'InfoNCE over the 2N stacked views, positive kept in the denominator; mean over view pairs for V > 2 (Chen et al. 2020).',
    minViews: 2,
    maxViews: Infinity,
    needsLabels: false,
    params: {
      tau: {
        default: 0.5,
        min: 0.01,
        max: 10,
        help: 'temperature: lower = sharper softmax, harder negatives',
      },
    },
  },
  dcl: {
    id: 'dcl',
    kind: 'loss',
    name: 'DCL (decoupled contrastive)',
    description:
      'NT-Xent without the positive in the denominator, which removes the negative-positive coupling (Yeh et al. 2022).',
    minViews: 2,
    maxViews: 2,
    needsLabels: false,
    params: {
      tau: {
        default: 0.1,
        min: 0.01,
        max: 10,
        help: 'temperature: lower = sharper softmax, harder negatives',
      },
    },
  },
  dclw: {
    id: 'dclw',
    kind: 'loss',
    name: 'DCLW (weighted decoupled contrastive)',
    description:
      'DCL whose positive terms are re-weighted by a constant vMF softmax of the positive cosines (Yeh et al. 2022).',
    minViews: 2,
    maxViews: 2,
    needsLabels: false,
    params: {
      tau: {
        default: 0.1,
        min: 0.01,
        max: 10,
        help: 'temperature: lower = sharper softmax, harder negatives',
      },
      sigma: {
        default: 0.5,
        min: 0.01,
        max: 10,
        help: 'weighting sharpness: lower = stronger down-weighting of positives that are already close',
      },
    },
  },
  supcon: {
    id: 'supcon',
    kind: 'loss',
    name: 'SupCon (supervised contrastive)',
    description:
      'Contrastive loss whose positives are all same-class rows across views, mean over positives outside the log (Khosla et al. 2020).',
    minViews: 2,
    maxViews: Infinity,
    needsLabels: true,
    params: {
      tau: {
        default: 0.1,
        min: 0.01,
        max: 10,
        help: 'temperature: lower = sharper softmax, harder negatives',
      },
    },
  },
  mv_infonce: {
    id: 'mv_infonce',
    kind: 'loss',
    name: 'MV-InfoNCE (multi-view)',
    description:
      'One InfoNCE term per instance over all its views: log of all-pairs similarity mass over all-positive-pairs mass (Koromilas et al. 2025).',
    minViews: 2,
    maxViews: Infinity,
    needsLabels: false,
    params: {
      tau: {
        default: 0.5,
        min: 0.01,
        max: 10,
        help: 'temperature: lower = sharper softmax, harder negatives',
      },
    },
  },
  mv_dhel: {
    id: 'mv_dhel',
    kind: 'loss',
    name: 'MV-DHEL (multi-view decoupled)',
    description:
      'Multi-view loss with all-view-pairs alignment and per-view uniformity kept apart (Koromilas et al. 2025).',
    minViews: 2,
    maxViews: Infinity,
    needsLabels: false,
    params: {
      tau: {
        default: 0.5,
        min: 0.01,
        max: 10,
        help: 'temperature: lower = sharper softmax, harder negatives',
      },
    },
  },
  align_uniform: {
    id: 'align_uniform',
    kind: 'loss',
    name: 'Alignment + Uniformity',
    description:
      'Pulls positive pairs together and spreads each view over the hypersphere with a Gaussian potential (Wang & Isola 2020).',
    minViews: 2,
    maxViews: 2,
    needsLabels: false,
    params: {
      alpha: { default: 2, min: 1, max: 4, help: 'exponent of the alignment distance (the paper uses 2)' },
      t: {
        default: 2,
        min: 0,
        max: 10,
        exclusiveMin: true,
        help: 'sharpness of the uniformity potential exp(-t d^2)',
      },
      lambda: { default: 1, min: 0, max: 100, help: 'weight of the uniformity term relative to alignment' },
    },
  },
  barlow_twins: {
    id: 'barlow_twins',
    kind: 'loss',
    name: 'Barlow Twins',
    description:
      'Drives the cross-view correlation matrix of standardised embeddings to the identity (Zbontar et al. 2021).',
    minViews: 2,
    maxViews: 2,
    needsLabels: false,
    params: {
      lambda: {
        default: 0.0051,
        min: 0,
        max: 10,
        help: 'weight of the redundancy-reduction (off-diagonal) term relative to the invariance (diagonal) term',
      },
    },
  },
  vicreg: {
    id: 'vicreg',
    kind: 'loss',
    name: 'VICReg',
    description:
      'Invariance + per-dimension variance hinge + covariance decorrelation of the raw embeddings (Bardes et al. 2022).',
    minViews: 2,
    maxViews: 2,
    needsLabels: false,
    params: {
      sim: {
        default: 25,
        min: 0,
        max: 1000,
        help: 'weight of the invariance term (mean squared distance between the views)',
      },
      var: {
        default: 25,
        min: 0,
        max: 1000,
        help: 'weight of the variance hinge that keeps every dimension spread out (std >= 1)',
      },
      cov: {
        default: 1,
        min: 0,
        max: 1000,
        help: 'weight of the covariance term that decorrelates the dimensions',
      },
    },
  },
  cacr: {
    id: 'cacr',
    kind: 'loss',
    name: 'CACR',
    description:
      'Attracts the hardest positive views and repels the closest negatives with softmax-weighted costs (Zheng et al. 2021).',
    minViews: 2,
    maxViews: Infinity,
    needsLabels: false,
    params: {
      alpha: {
        default: 1,
        min: 0,
        max: 100,
        help: 'weight of the attraction term (pull views of an instance together)',
      },
      beta: {
        default: 1,
        min: 0,
        max: 100,
        help: 'weight of the repulsion term (push other instances apart)',
      },
      tPos: {
        default: 1,
        min: 0,
        max: 100,
        help: 'attraction sharpness: higher = focus on the farthest positive views',
      },
      tNeg: {
        default: 0.9,
        min: 0,
        max: 100,
        help: 'repulsion sharpness: higher = focus on the closest negatives',
      },
    },
  },
  clip: {
    id: 'clip',
    kind: 'loss',
    name: 'CLIP (symmetric InfoNCE)',
    description:
      'Cross-entropy of cross-view cosine logits in both directions, positives on the diagonal (Radford et al. 2021).',
    minViews: 2,
    maxViews: 2,
    needsLabels: false,
    params: {
      tau: {
        default: 0.07,
        min: 0.01,
        max: 10,
        help: 'temperature: lower = sharper softmax, harder negatives',
      },
    },
  },
  mnr: {
    id: 'mnr',
    kind: 'loss',
    name: 'Multiple Negatives Ranking',
    description:
      'One-directional cross-entropy of scaled cross-view cosines, positives on the diagonal (Henderson et al. 2017).',
    minViews: 2,
    maxViews: 2,
    needsLabels: false,
    params: {
      scale: {
        default: 20,
        min: 0.1,
        max: 100,
        help: 'multiplies the cosines (= 1 / temperature): higher = harder negatives',
      },
    },
  },
  moco: {
    id: 'moco',
    kind: 'method',
    name: 'MoCo v2 (momentum contrast)',
    description:
      'InfoNCE of a query against its momentum-encoder key and a queue of past keys (He et al. 2020, Chen et al. 2020).',
    minViews: 2,
    maxViews: 2,
    needsLabels: false,
    params: {
      K: {
        default: 4096,
        min: 1,
        max: 65536,
        integer: true,
        help: 'queue length: number of past keys used as negatives',
      },
      m: {
        default: 0.99,
        min: 0,
        max: 1,
        help: 'key encoder momentum: 1 = frozen key encoder, 0 = copy of the online network',
      },
      tau: { default: 0.1, min: 0.01, max: 10, help: 'temperature: lower = harder negatives' },
    },
  },
  byol: {
    id: 'byol',
    kind: 'method',
    name: 'BYOL (bootstrap your own latent)',
    description:
      'Predicts an EMA target network’s projection of the other view; no negatives (Grill et al. 2020).',
    minViews: 2,
    maxViews: 2,
    needsLabels: false,
    params: {
      baseEma: {
        default: 0.996,
        min: 0,
        max: 1,
        help: 'target EMA decay at step 0, raised to 1 by a cosine schedule',
      },
      predHidden: {
        default: 512,
        min: 1,
        max: 8192,
        integer: true,
        help: 'hidden width of the predictor MLP',
      },
    },
  },
  simsiam: {
    id: 'simsiam',
    kind: 'method',
    name: 'SimSiam (stop-gradient)',
    description:
      'Predicts one view’s projection from the other, with a stop-gradient and no negatives (Chen & He 2021).',
    minViews: 2,
    maxViews: 2,
    needsLabels: false,
    params: {
      predHidden: {
        default: 512,
        min: 1,
        max: 8192,
        integer: true,
        help: 'hidden width of the predictor MLP',
      },
      stopGradient: {
        default: 1,
        min: 0,
        max: 1,
        integer: true,
        help: '1 = stop-gradient on the targets (the method); 0 = the ablation without it, which collapses',
      },
      predictor: {
        default: 1,
        min: 0,
        max: 1,
        integer: true,
        help: '1 = predictor MLP on the online branch (the method); 0 = the ablation without it (p = z)',
      },
    },
  },
  swav: {
    id: 'swav',
    kind: 'method',
    name: 'SwAV (swapped prototypes)',
    description:
      'Predicts the Sinkhorn cluster code of one view from another view, with K learned prototypes (Caron et al. 2020).',
    minViews: 2,
    maxViews: Infinity,
    needsLabels: false,
    params: {
      K: { default: 100, min: 2, max: 4096, integer: true, help: 'number of prototypes (clusters)' },
      eps: {
        default: 0.05,
        min: 0.03,
        max: 1,
        help: 'Sinkhorn entropy: lower = sharper codes (below 0.03 exp underflows in float32)',
      },
      iters: { default: 3, min: 1, max: 20, integer: true, help: 'Sinkhorn-Knopp iterations' },
      tau: { default: 0.1, min: 0.01, max: 10, help: 'temperature of the predicted assignment softmax' },
    },
  },
  hydra: {
    id: 'hydra',
    kind: 'method',
    name: 'Hydra (class-pair gates)',
    description:
      'NT-Xent plus a contrastive term between arbitrary class pairs through learned per-pair feature gates.',
    minViews: 2,
    maxViews: 2,
    needsLabels: true,
    params: {
      beta: { default: 1, min: 0, max: 100, help: 'weight of the class-pair term (0 = plain NT-Xent)' },
      s0: {
        default: 10,
        min: 1,
        max: 100,
        help: 'initial logit scale s = 1/tau of the gated term (learned)',
      },
    },
  },
  amcl: {
    id: 'amcl',
    kind: 'method',
    name: 'AMCL (adaptive multi-head)',
    description:
      'C projection heads with pair-adaptive temperatures from a shared MLP, hardest-negative SimCLR form (Wang et al. 2023).',
    minViews: 2,
    maxViews: 2,
    needsLabels: false,
    params: {
      heads: { default: 3, min: 1, max: 8, integer: true, help: 'number of independent projection heads C' },
      beta: { default: 1e-4, min: 0, max: 1, help: 'weight of the temperature regulariser Omega' },
      tauMin: {
        default: 0.05,
        min: 0.01,
        max: 10,
        help: 'lowest temperature phi can produce (keeps 1/tau finite)',
      },
      tauMax: {
        default: 2.0,
        min: 0.01,
        max: 10,
        help: 'highest temperature phi can produce (must be >= tauMin)',
      },
    },
  },
  beclr: {
    id: 'beclr',
    kind: 'method',
    name: 'BECLR (DyCE batch enhancement)',
    description:
      'Student-teacher alignment plus a uniformity term, the batch enlarged with nearest memory embeddings of the nearest DyCE partition (Poulakakis-Daktylidis & Jamali-Rad, ICLR 2024).',
    minViews: 2,
    maxViews: 2,
    needsLabels: false,
    params: {
      lambdaNeg: { default: 0.1, min: 0, max: 10, help: 'weight of the negative (uniformity) term' },
      temp: { default: 2, min: 0.01, max: 10, help: 'temperature of the negative term' },
      baseEma: {
        default: 0.996,
        min: 0,
        max: 1,
        help: 'teacher EMA decay at step 0, raised to 1 by a cosine schedule',
      },
      predHidden: {
        default: 128,
        min: 1,
        max: 8192,
        integer: true,
        help: 'hidden width of the student predictor MLP',
      },
      dyce: {
        default: 1,
        min: 0,
        max: 1,
        integer: true,
        help: '1 = DyCE memory enhances the batch, 0 = off (measures its effect)',
      },
      topk: {
        default: 5,
        min: 1,
        max: 64,
        integer: true,
        help: 'memory neighbours appended to every batch row',
      },
      partitions: {
        default: 16,
        min: 2,
        max: 4096,
        integer: true,
        help: 'DyCE partitions (clusters) of the memory',
      },
      memory: {
        default: 1024,
        min: 16,
        max: 65536,
        integer: true,
        help: 'DyCE memory size in embeddings (>= partitions and >= topk)',
      },
      startEpoch: {
        default: 1,
        min: 0,
        max: 10000,
        help: 'epochs before the enhanced batch is used (the memory fills meanwhile)',
      },
    },
  },
  sepclr: {
    id: 'sepclr',
    kind: 'method',
    name: 'SepCLR (common / salient)',
    description:
      'Contrastive analysis: a common and a salient encoder, InfoMax terms on background and target, background salient embeddings at 0 and a joint-entropy leakage term (Louiset et al., ICLR 2024). Needs protocol contrastive-analysis.',
    minViews: 2,
    maxViews: 2,
    needsLabels: false,
    params: {
      tau: { default: 0.5, min: 0.01, max: 10, help: 'kernel temperature of every term' },
      betaSalient: {
        default: 1000,
        min: 0,
        max: 100000,
        help: 'weight of the salient alignment + uniformity term',
      },
      betaReg: {
        default: 1000,
        min: 0,
        max: 100000,
        help: "weight of the constraint that sends background salient embeddings to s' = 0",
      },
      lambdaJem: {
        default: 10,
        min: 0,
        max: 10000,
        help: 'weight of the information-leakage term (joint entropy of common and salient)',
      },
    },
  },
  pixpro: {
    id: 'pixpro',
    kind: 'method',
    name: 'PixPro (pixel propagation)',
    description:
      'Pixel-to-propagation consistency between corresponding pixels of two crops, against a momentum encoder; optional BYOL-style instance term (Xie et al. 2021).',
    minViews: 2,
    maxViews: 2,
    needsLabels: false,
    inputs: 'geometry',
    params: {
      T: {
        default: 0.7,
        min: 0,
        max: 10,
        help: 'positive-pair distance threshold, in feature-cell diagonals of the source image',
      },
      gamma: {
        default: 2,
        min: 0,
        max: 10,
        help: 'sharpness of the propagation similarity max(cos, 0)^gamma (0 = plain average)',
      },
      ppmLayers: {
        default: 1,
        min: 0,
        max: 2,
        integer: true,
        help: 'linear layers of the propagation transform g (0 = identity; 2 = Linear-BN-ReLU-Linear)',
      },
      baseMomentum: {
        default: 0.99,
        min: 0,
        max: 1,
        help: 'momentum encoder decay at step 0, raised to 1 by a cosine schedule',
      },
      pixHidden: {
        default: 256,
        min: 1,
        max: 8192,
        integer: true,
        help: 'hidden width of the per-pixel projection head',
      },
      pixDim: {
        default: 64,
        min: 1,
        max: 4096,
        integer: true,
        help: 'output width of the per-pixel projection head',
      },
      alpha: {
        default: 1,
        min: 0,
        max: 100,
        help: 'weight of the instance-level term on pooled features (0 = pixel terms only)',
      },
      predHidden: {
        default: 512,
        min: 1,
        max: 8192,
        integer: true,
        help: 'hidden width of the instance-level predictor MLP (used when alpha > 0)',
      },
    },
  },
  cmim: {
    id: 'cmim',
    kind: 'method',
    name: 'cMIM (contrastive MIM)',
    description:
      'Mutual Information Machine auto-encoder (A-MIM) plus a contrastive term between posterior samples and means; clean images, no positive-pair augmentation (Livne 2025).',
    minViews: 1,
    maxViews: 1,
    needsLabels: false,
    inputs: 'clean',
    params: {
      lambda: {
        default: 1,
        min: 0,
        max: 10000,
        help: 'weight of the contrastive term (0 = plain A-MIM)',
      },
      tau: {
        default: 0.1,
        min: 0.01,
        max: 10,
        help: 'temperature of the contrastive term: lower = sharper softmax',
      },
      decoderWidth: {
        default: 32,
        min: 1,
        max: 1024,
        integer: true,
        help: 'channels c of the convolutional decoder (hidden maps 2c, c, c; informative embedding 4c)',
      },
    },
  },
  mcl: {
    id: 'mcl',
    kind: 'method',
    name: 'MCL (multistage contrastive)',
    description:
      'Trains in stages; after each, k-means on its features, and the next stage draws negatives only from the anchor’s cluster; h concatenates the stages (Zhang et al. 2024).',
    minViews: 2,
    maxViews: 2,
    needsLabels: false,
    params: {
      tau: {
        default: 0.5,
        min: 0.01,
        max: 10,
        help: 'temperature: lower = sharper softmax, harder negatives',
      },
      stages: {
        default: 3,
        min: 1,
        max: 8,
        integer: true,
        help: 'number of stages; each adds its features to the representation (1 = plain NT-Xent)',
      },
      clusters: {
        default: 10,
        min: 2,
        max: 1000,
        integer: true,
        help: 'k-means clusters per stage; later stages contrast only within the intersection of the clusters',
      },
      stageSteps: {
        default: 0,
        min: 0,
        max: 10_000_000,
        integer: true,
        help: 'optimizer steps per stage (0 = the run split evenly); the last stage runs to the end',
      },
      reinit: {
        default: 1,
        min: 0,
        max: 1,
        integer: true,
        help: '1 = every stage restarts from the initial weights with a fresh optimizer (the paper); 0 = continue',
      },
    },
  },
  supremix: {
    id: 'supremix',
    kind: 'method',
    name: 'SupReMix (mixup pairs for regression)',
    description:
      'Supervised contrastive regression: mixup of anchor and negative as hard negatives, of its label neighbours as hard positives, negatives weighted by label distance (Wu et al. 2023).',
    minViews: 2,
    maxViews: 2,
    needsLabels: false,
    needsTargets: true,
    params: {
      tau: {
        default: 0.1,
        min: 0.01,
        max: 10,
        help: 'temperature: lower = sharper softmax, harder negatives',
      },
      window: {
        default: 5,
        min: 0,
        max: 1000,
        help: 'mix positives need a lower and a higher target within this distance of the anchor’s (target units)',
      },
      lambda: {
        default: 1,
        min: 0,
        max: 100,
        help: 'distance magnifying: a negative weighs 1 + lambda × |target difference| in the denominator',
      },
      alphaA: {
        default: 2,
        min: 0.01,
        max: 100,
        help: 'Beta(alphaA, alphaB) draws the anchor’s share of each mix negative (2, 8: mostly the negative)',
      },
      alphaB: {
        default: 8,
        min: 0.01,
        max: 100,
        help: 'second parameter of the Beta distribution of the anchor’s share in mix negatives',
      },
      mixNeg: {
        default: 1,
        min: 0,
        max: 1,
        integer: true,
        help: '1 = add the anchor-inclusive mixtures as hard negatives',
      },
      mixPos: {
        default: 1,
        min: 0,
        max: 1,
        integer: true,
        help: '1 = add the mixture of the anchor’s nearest lower and higher targets as a hard positive',
      },
    },
  },
  m3col: {
    id: 'm3col',
    kind: 'method',
    name: 'M3CoL (mixup contrastive)',
    description:
      'Mixes the samples of one modality and aligns each mixture with both sources in the other with soft targets; modalities = two views, or a view and its edge map (Kumar et al. 2025).',
    minViews: 2,
    maxViews: 2,
    needsLabels: false,
    stageLabels: ['M3Co (mixup)', 'SoftCLIP'],
    params: {
      tau: {
        default: 0.1,
        min: 0.01,
        max: 10,
        help: 'temperature: lower = sharper softmax, harder negatives',
      },
      beta: {
        default: 0.15,
        min: 0.01,
        max: 10,
        help: 'the mixing coefficient lambda ~ Beta(beta, beta): small = mostly near 0 or 1',
      },
      pMix: {
        default: 0.5,
        min: 0,
        max: 1,
        help: 'probability that a sample is mixed (the others keep lambda = 1)',
      },
      mixupFraction: {
        default: 0.33,
        min: 0,
        max: 1,
        help: 'fraction of the run trained with the mixup loss; then a soft-target CLIP loss (1 = mixup throughout)',
      },
      mixInput: {
        default: 1,
        min: 0,
        max: 1,
        integer: true,
        help: '1 = mix the input images and encode the mixtures; 0 = mix the projections',
      },
      modality: {
        default: 0,
        min: 0,
        max: 1,
        integer: true,
        help: 'second modality: 0 = the other augmented view, 1 = the Sobel edge map of the other view',
      },
      separateEncoder: {
        default: 0,
        min: 0,
        max: 1,
        integer: true,
        help: '1 = the second modality has its own encoder (a copy of the network); 0 = shared',
      },
    },
  },
};

export function isLossId(id: string): id is LossId {
  return (LOSS_IDS as readonly string[]).includes(id);
}

/** The catalogue entry of `id`; throws naming the valid ids for an unknown one. */
export function lossInfo(id: string): LossInfo {
  if (!isLossId(id)) throw new Error(`unknown loss '${id}'; valid ids: ${LOSS_IDS.join(', ')}`);
  return LOSS_CATALOG[id];
}

/** Describes why `value` is outside `spec`, or returns null when it is valid. */
export function paramProblem(name: string, value: number, spec: ParamSpec): string | null {
  const range = `${spec.exclusiveMin ? '(' : '['}${spec.min}, ${spec.max}]`;
  if (typeof value !== 'number' || !Number.isFinite(value))
    return `${name} must be a finite number in ${range}, got ${String(value)}`;
  if (spec.integer && !Number.isInteger(value)) return `${name} must be an integer in ${range}, got ${value}`;
  const belowMin = spec.exclusiveMin ? value <= spec.min : value < spec.min;
  if (belowMin || value > spec.max) return `${name} must be in ${range}, got ${value}`;
  return null;
}

/** Fills defaults and validates every param; throws naming the loss, the param and the valid range. */
export function resolveLossParams(id: string, params: Record<string, unknown> = {}): Record<string, number> {
  const info = lossInfo(id);
  const resolved: Record<string, number> = {};
  for (const name of Object.keys(params)) {
    if (!Object.hasOwn(info.params, name)) {
      const nearest = nearestName(name, Object.keys(info.params));
      throw new Error(
        `loss '${id}' has no parameter '${name}'${nearest ? ` (did you mean '${nearest}'?)` : ''}; its parameters are: ${Object.keys(info.params).join(', ') || 'none'}`,
      );
    }
  }
  for (const [name, spec] of Object.entries(info.params)) {
    const value = name in params ? params[name] : spec.default;
    const problem = paramProblem(name, value as number, spec);
    if (problem) throw new Error(`loss '${id}': ${problem}`);
    resolved[name] = value as number;
  }
  return resolved;
}

/**
 * The candidate closest to `name` (case-insensitive Levenshtein distance, at most a third of the name's length,
 * minimum 2), or null when none is close: the "did you mean" of unknown config fields and loss parameters.
 */
export function nearestName(name: string, candidates: readonly string[]): string | null {
  const a = name.toLowerCase();
  let best: string | null = null;
  let bestDistance = Math.max(2, Math.floor(a.length / 3)) + 1;
  for (const candidate of candidates) {
    const b = candidate.toLowerCase();
    let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const current = [i];
      for (let j = 1; j <= b.length; j++)
        current[j] = Math.min(
          previous[j] + 1,
          current[j - 1] + 1,
          previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
        );
      previous = current;
    }
    if (previous[b.length] < bestDistance) {
      bestDistance = previous[b.length];
      best = candidate;
    }
  }
  return best;
}
