"""The run's objective as an nn.Module for train.py: a stateless loss (losses.py) or a stateful method with its own
networks and buffers (src/methods/*.ts): MoCo v2, BYOL, SimSiam, SwAV, Hydra, AMCL, MCL, SupReMix, M3CoL,
PixPro and cMIM.

An objective gets a Batch: the projections `views` of the whole global batch (gathered from every rank, in global
order), the backbone `features` likewise (only for objectives with uses_features), its `labels`, and this rank's own
standardised view `images` (methods with a target network run it on them and gather its outputs), the 0-based
optimizer `step` (methods that draw random numbers seed them from it, as the playground does). Every rank
computes the same loss; distributed.py says why the gradients then come out as in a single process. Hooks:
before_optimizer_step() (after backward), after_step(step, total_steps, encoder) (after the optimizer step:
queues, momentum and EMA updates) and, for MCL, at_step_boundary(...) before every step (stage changes).
"""

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

import losses
from config import NOT_IN_PYTORCH
from data import Rng, js_round
from distributed import gather_batch, rank, world_size
from model import BatchNorm, Conv2dSame, Dense, MLPHead, initialise


@dataclass
class Batch:
    views: list  # V x [B, D] projections of the global batch
    features: list  # V x [B, F] backbone features of the global batch, or None
    labels: torch.Tensor  # [B] class labels
    images: list  # V x [b, C, H, W] this rank's standardised views
    step: int = 0  # the 0-based optimizer step this batch trains
    targets: torch.Tensor = None  # [B] the regression targets of the global batch (dataset.target), or None
    indices: torch.Tensor = None  # [B] the training-set index of every row of the global batch
    maps: list = None  # V x [b, F, h, w] this rank's spatial maps before global pooling (objectives with uses_maps)
    geometry: list = None  # V x {top, left, height, width, flip: [b]} this rank's crop boxes (augment.GEOMETRY)


def mean_row_cosine(a, b):
    return (losses.unit(a) * losses.unit(b)).sum(1).mean()


class Objective(nn.Module):
    uses_features = False  # whether forward reads batch.features (train.py gathers them only then)
    uses_maps = False  # whether forward reads batch.maps and batch.geometry (train.py runs forward_spatial then)

    def before_optimizer_step(self):
        pass

    def after_step(self, step, total_steps, encoder):
        pass


class Loss(Objective):
    """A stateless loss of losses.py with the run's parameters."""

    def __init__(self, loss_id, params):
        super().__init__()
        self.loss_id, self.params, self.fn = loss_id, dict(params), losses.LOSSES[loss_id]

    def forward(self, batch):
        return self.fn(batch.views, labels=batch.labels, **self.params)

    def extra_repr(self):
        return f"{self.loss_id}, {self.params}"


def target_copy(encoder):
    """A copy of the online encoder that takes no gradient (MoCo's key encoder, BYOL's target)."""
    target = copy.deepcopy(encoder)
    target.requires_grad_(False)
    return target


@torch.no_grad()
def momentum_update(target, online, momentum):
    """theta_target <- momentum theta_target + (1 - momentum) theta_online, for the trainable parameters only (the
    target's BatchNorm statistics follow its own forward passes)."""
    for t, o in zip(target.parameters(), online.parameters()):
        t.mul_(momentum).add_(o.detach(), alpha=1 - momentum)


class MoCo(Objective):
    """MoCo v2 (He et al. 2020; Chen et al. 2020): q = norm(views[0]), k = norm(f_k(images[1])) from the momentum key
    encoder (BatchNorm in training mode), l_i = -q_i.k_i / tau + LSE([q_i.k_i, q_i.queue] / tau), L = mean_i l_i.
    After each step the batch's keys enter the ring buffer of K keys (the newest K when the batch is larger) and
    theta_k <- m theta_k + (1 - m) theta_q. The queue starts as K random unit vectors."""

    def __init__(self, encoder, K, m, tau, seed):
        super().__init__()
        self.m, self.tau = m, tau
        self.key_encoder = target_copy(encoder)
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("queue", losses.unit(torch.randn(int(K), encoder.embedding_dim, generator=generator)))
        self.register_buffer("queue_pointer", torch.zeros((), dtype=torch.long))
        self.pending_keys = None

    def forward(self, batch):
        queries = losses.unit(batch.views[0])
        with torch.no_grad():
            keys = losses.unit(gather_batch(self.key_encoder(batch.images[1])[1]))
        positive = (queries * keys).sum(1, keepdim=True)
        logits = torch.cat([positive, queries @ self.queue.t()], 1) / self.tau
        self.pending_keys = keys
        return (torch.logsumexp(logits, 1) - positive.squeeze(1) / self.tau).mean()

    @torch.no_grad()
    def after_step(self, step, total_steps, encoder):
        if self.pending_keys is not None:
            keys, K, pointer = self.pending_keys, self.queue.shape[0], int(self.queue_pointer)
            first = max(0, keys.shape[0] - K)  # only the newest K keys survive
            slots = (pointer + torch.arange(first, keys.shape[0], device=keys.device)) % K
            self.queue[slots] = keys[first:]
            self.queue_pointer.fill_((pointer + keys.shape[0]) % K)
            self.pending_keys = None
        momentum_update(self.key_encoder, encoder, self.m)


def byol_target_decay(step, total_steps, base_ema):
    """tau_k = 1 - (1 - baseEma) (cos(pi k / K) + 1) / 2 after step k of K."""
    progress = min(max(step / max(total_steps, 1), 0), 1)
    return 1 - (1 - base_ema) * (math.cos(math.pi * progress) + 1) / 2


def predictor_head(dim, hidden, name):
    """Linear(D, hidden) -> BN -> ReLU -> Linear(hidden, D); on gathered rows, so no cross-rank BatchNorm."""
    head = MLPHead(dim, 2, hidden, dim, True, name, sync=False)
    initialise(head)
    return head


class BYOL(Objective):
    """BYOL (Grill et al. 2020): z'_v = sg(f_t(images[v])),
    L = mean_i [(2 - 2 s(q(z1)_i, z'_2i)) + (2 - 2 s(q(z2)_i, z'_1i))], then the EMA update of the target with
    byol_target_decay(step)."""

    def __init__(self, encoder, baseEma, predHidden):
        super().__init__()
        self.base_ema = baseEma
        self.target = target_copy(encoder)
        self.predictor = predictor_head(encoder.embedding_dim, int(predHidden), "byol_predictor")

    def forward(self, batch):
        z1, z2 = batch.views
        p1, p2 = self.predictor(z1), self.predictor(z2)
        with torch.no_grad():
            t1, t2 = (gather_batch(self.target(images)[1]) for images in batch.images[:2])
        return 4 - 2 * (mean_row_cosine(p1, t2) + mean_row_cosine(p2, t1))

    def after_step(self, step, total_steps, encoder):
        momentum_update(self.target, encoder, byol_target_decay(step, total_steps, self.base_ema))


class SimSiam(Objective):
    """SimSiam (Chen & He 2021): L = -(mean_i s(q(z1)_i, sg(z2_i)) + mean_i s(q(z2)_i, sg(z1_i))) / 2.
    The paper's ablations: stopGradient 0 drops sg (the gradient flows into both branches), predictor 0 drops q
    (p = z, no predictor weights)."""

    def __init__(self, encoder, predHidden, stopGradient=1, predictor=1):
        super().__init__()
        self.stop_gradient = bool(stopGradient)
        self.predictor = predictor_head(encoder.embedding_dim, int(predHidden), "simsiam_predictor") if predictor else nn.Identity()

    def forward(self, batch):
        z1, z2 = batch.views
        p1, p2 = self.predictor(z1), self.predictor(z2)
        t1, t2 = (z1.detach(), z2.detach()) if self.stop_gradient else (z1, z2)
        return -(mean_row_cosine(p1, t2) + mean_row_cosine(p2, t1)) / 2


def sinkhorn(scores, eps, iterations):
    """SwAV's Sinkhorn-Knopp codes (Caron et al. 2020, Algorithm 1) on detached [B, K] scores; rows sum to 1."""
    b, k = scores.shape
    q = torch.exp((scores - scores.max()) / eps)
    for _ in range(iterations):
        q = q / (q.sum(0, keepdim=True) * k)
        q = q / (q.sum(1, keepdim=True) * b)
    return q * b


class SwAV(Objective):
    """SwAV (Caron et al. 2020): scores_v = norm(z_v) C^T with C's rows renormalised before every step,
    q_v = Sinkhorn(sg(scores_v)), L = mean over ordered view pairs s != t of -mean_b sum_k q_s log softmax(scores_t / tau).
    The prototypes are frozen for the first epoch (zero gradient, their value restored after each step)."""

    def __init__(self, dim, K, eps, iters, tau, seed, steps_per_epoch, start_step=0):
        super().__init__()
        self.eps, self.iters, self.tau, self.steps_per_epoch = eps, int(iters), tau, steps_per_epoch
        generator = torch.Generator().manual_seed(seed)
        self.prototypes = nn.Parameter(losses.unit(torch.randn(int(K), dim, generator=generator)))
        self.register_buffer("steps_done", torch.tensor(start_step, dtype=torch.long))
        self.frozen_value = None

    @property
    def frozen(self):
        return int(self.steps_done) < self.steps_per_epoch

    def forward(self, batch):
        with torch.no_grad():
            if self.frozen and self.frozen_value is None:
                self.frozen_value = losses.unit(self.prototypes).clone()
            self.prototypes.copy_(losses.unit(self.prototypes))
        scores = [losses.unit(z) @ self.prototypes.t() for z in batch.views]
        codes = [sinkhorn(s.detach(), self.eps, self.iters) for s in scores]
        log_probs = [F.log_softmax(s / self.tau, dim=1) for s in scores]
        terms = [-(codes[s] * log_probs[t]).sum(1).mean() for s in range(len(scores)) for t in range(len(scores)) if s != t]
        return torch.stack(terms).mean()

    def before_optimizer_step(self):
        if self.frozen and self.prototypes.grad is not None:
            self.prototypes.grad.zero_()  # frozen: a zero gradient, as the playground's stop-gradient gives

    @torch.no_grad()
    def after_step(self, step, total_steps, encoder):
        if self.frozen_value is not None and step - 1 < self.steps_per_epoch:
            self.prototypes.copy_(self.frozen_value)  # undo what weight decay did to the frozen prototypes
        self.steps_done.fill_(step)
        if not self.frozen:
            self.frozen_value = None


def gated_logits(anchors, keys, gates, scale):
    """l_ij = scale cos(g_i a_i, g_i b_j), expanded so that no [N, N, D] tensor is formed."""
    g2 = gates**2
    dots = (g2 * anchors) @ keys.t()
    anchor_inv_norms = torch.rsqrt(((g2 * anchors**2).sum(1, keepdim=True)).clamp(min=1e-24))
    key_inv_norms = torch.rsqrt((g2 @ (keys**2).t()).clamp(min=1e-24))
    return scale * dots * anchor_inv_norms * key_inv_norms


def pair_loss(logits, positives, negatives):
    """(1 / sum|P_i|) sum_i sum_{j in P_i} (log(exp l_ij + sum_{k in N_i} exp l_ik) - l_ij)."""
    negative_lse = torch.logsumexp(logits + (1 - negatives) * losses.MASK_NEG, 1, keepdim=True)
    denominators = torch.logaddexp(logits, negative_lse.expand_as(logits))
    return (positives * (denominators - logits)).sum() / positives.sum()


class Hydra(Objective):
    """Hydra-style class-pair gates (needs labels): g(y, y') = sigmoid(f_g((E[y] + E[y']) / 2)) with y'_i the label of
    instance pi(i) for a random permutation pi of the batch; l_ij = s cos(g_i z1_i, g_i z2_j), s = exp(learned);
    P_i = {j: y_j = y'_i}, N_i = {j: y_j not in {y_i, y'_i}}; L_pair = pair_loss averaged over both directions;
    L = (ntxent(views, tau 0.5) + beta L_pair) / (1 + beta). f_g = ReLU -> BN -> Linear -> ReLU -> BN -> Linear."""

    def __init__(self, dim, num_classes, beta, s0, seed, widths=(512, 1024)):
        super().__init__()
        self.beta, self.seed = beta, seed
        generator = torch.Generator().manual_seed(seed)
        self.class_embedding = nn.Parameter(torch.randn(num_classes, widths[0], generator=generator))
        self.gate = nn.Sequential(
            nn.ReLU(),
            BatchNorm(widths[0], sync=False, tfjs_name="hydra_gate_bn0"),
            Dense(widths[0], widths[1], tfjs_name="hydra_gate_fc0"),
            nn.ReLU(),
            BatchNorm(widths[1], sync=False, tfjs_name="hydra_gate_bn1"),
            Dense(widths[1], dim, tfjs_name="hydra_gate_fc1"),
        )
        initialise(self.gate)
        self.log_scale = nn.Parameter(torch.tensor(math.log(s0)))
        self.register_buffer("partner_draws", torch.zeros((), dtype=torch.long))

    def next_permutation(self, n, device):
        # a fresh generator per draw from (seed, draw count): the same on every rank, and after a resume
        self.partner_draws += 1
        generator = torch.Generator().manual_seed((self.seed + int(self.partner_draws) * 0x9E3779B1) % 2**32)
        return torch.randperm(n, generator=generator).to(device)

    def forward(self, batch, partner=None):
        labels = batch.labels
        if labels is None:
            raise ValueError("loss 'hydra' needs class labels; use a labelled dataset or another loss")
        partner = self.next_permutation(labels.shape[0], labels.device) if partner is None else partner
        partner_labels = labels[partner]
        gates = torch.sigmoid(self.gate((self.class_embedding[labels] + self.class_embedding[partner_labels]) / 2))
        scale = self.log_scale.exp()
        keys = labels[None, :]
        positives = (keys == partner_labels[:, None]).to(gates.dtype)
        negatives = ((keys != labels[:, None]) & (keys != partner_labels[:, None])).to(gates.dtype)
        z1, z2 = batch.views
        pair = (
            pair_loss(gated_logits(z1, z2, gates, scale), positives, negatives)
            + pair_loss(gated_logits(z2, z1, gates, scale), positives, negatives)
        ) / 2
        return (losses.ntxent(batch.views, tau=0.5) + self.beta * pair) / (1 + self.beta)


class AMCL(Objective):
    """AMCL (Wang et al. 2023), SimCLR form with the hardest negative, over C projection heads of the features h:
    tau(a, b) = tauMin + (tauMax - tauMin) sigmoid(-phi(a).phi(b)), Omega(tau) = (D / 2) log tau + 1 / tau,
    l_i = sum_c [-cos(z1_i, z2_i)/tau_pos + cos(z1_i, z2_n*)/tau_neg + beta (Omega(tau_pos) - Omega(tau_neg))],
    n* = argmax_{n != i} cos(z1_i, z2_n), averaged over anchors and both directions. The encoder's own projector
    gets no gradient from it."""

    uses_features = True

    def __init__(self, feature_dim, embedding_dim, projector, heads, beta, tauMin, tauMax):
        super().__init__()
        self.beta, self.tau_min, self.tau_max, self.dim = beta, tauMin, tauMax, embedding_dim
        layers = projector["layers"]
        hidden = projector["hidden"] if layers > 1 else 512
        batch_norm = layers > 1 and projector["batchNorm"]
        self.heads = nn.ModuleList(
            MLPHead(feature_dim, layers, hidden, embedding_dim, batch_norm, f"amcl_head{c}", sync=False) for c in range(int(heads))
        )
        self.phi = MLPHead(embedding_dim, 2, 128, embedding_dim, False, "amcl_phi", sync=False)
        initialise(self)

    def direction(self, cosines, tau):
        n = cosines.shape[0]
        eye = torch.eye(n, dtype=cosines.dtype, device=cosines.device)
        hardest = F.one_hot((cosines + eye * losses.MASK_NEG).argmax(1), n).to(cosines.dtype)
        cos_pos, tau_pos = (cosines * eye).sum(1), (tau * eye).sum(1)
        cos_neg, tau_neg = (cosines * hardest).sum(1), (tau * hardest).sum(1)

        def omega(t):
            return self.dim / 2 * torch.log(t) + 1 / t

        return (cos_neg / tau_neg - cos_pos / tau_pos + self.beta * (omega(tau_pos) - omega(tau_neg))).mean()

    def forward(self, batch):
        total = 0
        for head in self.heads:
            first, second = (losses.unit(head(h)) for h in batch.features[:2])
            cosines = first @ second.t()
            tau = self.tau_min + (self.tau_max - self.tau_min) * torch.sigmoid(-(self.phi(first) @ self.phi(second).t()))
            total = total + (self.direction(cosines, tau) + self.direction(cosines.t(), tau.t())) / 2
        return total


# ---- seeded draws of the mixup methods (src/methods/mixing.ts, src/nn/beta.ts): the playground's numbers ----

MASK32 = 0xFFFFFFFF


def step_rng(seed, step, purpose):
    """The random stream (mulberry32) of optimizer step `step` of a method seeded with `seed`, as stepRng."""
    x = (seed ^ ((purpose + 1) * 0x9E3779B1) ^ ((step + 1) * 0x85EBCA6B)) & MASK32
    x = ((x ^ (x >> 16)) * 0x7FEB352D) & MASK32
    x = ((x ^ (x >> 15)) * 0x846CA68B) & MASK32
    return Rng((x ^ (x >> 16)) & MASK32)


INCREMENT = 0x6D2B79F5  # mulberry32's state step


def mul32(a, b):
    """(a * b) mod 2^32 of int64 tensors in [0, 2^32), without overflowing 64 bits (Math.imul's low bits)."""
    return (a * (b & 0xFFFF) + (((a * (b >> 16)) & 0xFFFF) << 16)) & MASK32


def uniforms(rng, count, device=None):
    """The next `count` outputs of rng (data.Rng, mulberry32) as float64, computed at once; rng does not advance."""
    t = (rng.state + torch.arange(1, count + 1, dtype=torch.int64, device=device) * INCREMENT) & MASK32
    t = mul32(t ^ (t >> 15), t | 1)
    t = t ^ ((t + mul32(t ^ (t >> 7), t | 61)) & MASK32)
    return ((t ^ (t >> 14)) & MASK32).to(torch.float64) / 4294967296


def gamma_tables(u, shape):
    """For every position p of the uniforms u (and the end marker len(u)): where a Gamma(shape) draw that starts at
    p ends and its value, as sampleGamma draws it (Marsaglia & Tsang 2000): an attempt takes x ~ N(0, 1) from two
    uniforms (u = max(u, 1e-12), x = sqrt(-2 log u) cos(2 pi v)) and redraws x while v = 1 + c x <= 0; with
    v <- v^3 it takes one more uniform w and accepts d v if log w < x^2 / 2 + d - d v + d log v, d = shape - 1/3,
    c = 1 / sqrt(9 d). shape < 1: one uniform w first, then Gamma(shape + 1) w^(1 / shape). A draw that would
    read past the uniforms ends at the end marker."""
    size = u.shape[0]
    positions = torch.arange(size + 1, device=u.device)
    if shape < 1:
        end, value = gamma_tables(u, shape + 1)
        after = (positions + 1).clamp(max=size)
        power = torch.cat([u.clamp(min=1e-300), u.new_ones(1)]) ** (1 / shape)
        return end[after], value[after] * power
    d = shape - 1 / 3
    c = 1 / math.sqrt(9 * d)
    padded = torch.cat([u, u.new_full((3,), 0.5)])
    x = torch.sqrt(-2 * torch.log(padded[:size].clamp(min=1e-12))) * torch.cos(2 * math.pi * padded[1 : size + 1])
    v = 1 + c * x
    redraw = v <= 0
    v = v * v * v
    accept = ~redraw & (torch.log(padded[2 : size + 2].clamp(min=1e-300)) < 0.5 * x * x + d - d * v + d * torch.log(v))
    following = positions[:size] + torch.where(redraw, 2, 3)
    inside = following <= size
    following = torch.where(inside, following, torch.full_like(following, size))
    accept = accept & inside
    # the first accepted attempt of the chain of attempts from p (pointer doubling; the end marker stays put)
    marker = positions[size:]
    first = torch.cat([torch.where(accept, positions[:size], following), marker])
    while True:
        jumped = first[first]
        if torch.equal(jumped, first):
            break
        first = jumped
    following = torch.cat([following, marker])
    value = torch.cat([d * v, u.new_full((1,), math.nan)])
    return following[first], value[first]


def beta_draws(rng, count, a, b, device=None):
    """`count` Beta(a, b) draws, X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b) (0.5 if both are 0), as float32: the
    playground's betaDraws, number for number, from the same generator, which advances past them. The draws are
    computed at once: gamma_tables for every position of a stretch of the stream, then the chain of draws by
    pointer doubling."""
    if count == 0:
        return torch.zeros(0, device=device)
    # about 3.2 uniforms per gamma draw (one more below shape 1), with a margin
    length = int(count * 1.15 * (6.5 + (a < 1) + (b < 1))) + 64
    while True:
        u = uniforms(rng, length, device)
        end_a, value_a = gamma_tables(u, a)
        end_b, value_b = (end_a, value_a) if b == a else gamma_tables(u, b)
        step = end_b[end_a]  # one Beta draw
        starts = torch.zeros(count, dtype=torch.int64, device=device)
        k = torch.arange(count, device=device)
        power, bit = step, 0
        while (1 << bit) < count:
            starts = torch.where((k >> bit) & 1 == 1, power[starts], starts)
            power, bit = power[power], bit + 1
        end = int(step[starts[-1]])
        if end < length:
            break
        length *= 2  # the draws need more of the stream than this stretch
    x, y = value_a[starts], value_b[end_a[starts]]
    total = x + y
    draws = torch.where(total > 0, x / total, torch.full_like(total, 0.5))
    rng.state = (rng.state + end * INCREMENT) & MASK32
    return draws.to(torch.float32)


def mix_rows(x, lambdas, perm):
    """x~_i = lambda_i x_i + (1 - lambda_i) x_perm(i) for any [N, ...] tensor."""
    weights = lambdas.view(-1, *([1] * (x.dim() - 1)))
    return weights * x + (1 - weights) * x[perm]


def local_rows(n, device):
    """This rank's rows of a global batch of n (distributed.py's interleaving)."""
    return torch.arange(n // world_size(), device=device) * world_size() + rank()


# ---- M3CoL ----

SOBEL_X = [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]


def sobel_edges(images):
    """The Sobel edge map of standardised images [N, C, H, W] (src/methods/edges.ts): g = the channel mean,
    E = sqrt(G_x^2 + G_y^2 + 1e-12) / 4 of its 3x3 Sobel derivatives (zero padding), repeated over the C channels."""
    gray = images.mean(1, keepdim=True)
    kx = torch.tensor(SOBEL_X, dtype=images.dtype, device=images.device).view(1, 1, 3, 3)
    gx = F.conv2d(gray, kx, padding=1)
    gy = F.conv2d(gray, kx.transpose(2, 3), padding=1)
    magnitude = torch.sqrt(gx**2 + gy**2 + 1e-12) / 4
    return magnitude.repeat(1, images.shape[1], 1, 1)


def draw_mix(seed, step, modality, n, beta, p_mix, device=None):
    """One modality's mixing draw at one step (drawMix): a permutation pairs the rows, every row is mixed with
    probability pMix with lambda ~ Beta(beta, beta), an unmixed row has lambda = 1. Returns (lambdas, perm)."""
    rng = step_rng(seed, step, 10 + modality)
    perm = rng.permutation(n)
    draws = beta_draws(rng, n, beta, beta, device)
    mixed = torch.tensor([rng.next() < p_mix for _ in range(n)], device=device)
    return torch.where(mixed, draws, torch.ones_like(draws)), torch.tensor(perm, dtype=torch.int64, device=device)


def m3co_loss(mixed, fixed, lambdas, perm, tau):
    """M3Co (Kumar et al. 2025) of one mixed modality: l_ij = norm(p~_i).norm(q_j) / tau,
    T_ij = lambda_i [j = i] + (1 - lambda_i) [j = perm(i)],
    L = (-(1/N) sum_ij T_ij log softmax_j(l_i.) - (1/N) sum_ij T_ij log softmax_i(l_.j)) / 2."""
    n = mixed.shape[0]
    logits = losses.unit(mixed) @ losses.unit(fixed).t() / tau
    share = lambdas[:, None]
    targets = torch.eye(n, dtype=logits.dtype, device=logits.device) * share + F.one_hot(perm, n).to(logits.dtype) * (1 - share)
    rows = -(targets * F.log_softmax(logits, 1)).sum()
    columns = -(targets.t() * F.log_softmax(logits.t(), 1)).sum()
    return (rows + columns) / (2 * n)


def soft_clip_loss(preds, targs, tau):
    """M3CoL's SoftCLIP after the mixup phase: p, t = norm(preds), norm(targs), l = p t^T / tau,
    T = softmax_row(t t^T / tau) (not detached), L = (-(1/N) sum T log softmax(l) - (1/N) sum T log softmax(l^T)) / 2."""
    p, t = losses.unit(preds), losses.unit(targs)
    targets = torch.softmax(t @ t.t() / tau, 1)
    logits = p @ t.t() / tau
    first = -(targets * F.log_softmax(logits, 1)).sum()
    second = -(targets * F.log_softmax(logits.t(), 1)).sum()
    return (first + second) / (2 * preds.shape[0])


class M3CoL(Objective):
    """M3CoL-style mixup contrastive learning (Kumar et al., TMLR 2025) for images (src/methods/m3col.ts). The two
    modalities are the two views (modality 0) or view 1 and the Sobel edge map of view 2 (modality 1), the second
    encoded by a copy of the encoder (separateEncoder 1) or by the encoder itself. For the first round(mixupFraction
    total_steps) steps L = M3Co(e1(mix(x1)), q2) + M3Co(e2(mix(x2)), q1), each modality with its own draw_mix, the
    standardised inputs mixed (mixInput 1) or the projections (mixInput 0); afterwards
    L = SoftCLIP(q1, q2) + SoftCLIP(q2, q1)."""

    def __init__(self, encoder, total_steps, seed, tau, beta, pMix, mixupFraction, mixInput, modality, separateEncoder):
        super().__init__()
        self.tau, self.beta, self.p_mix, self.seed = tau, beta, pMix, seed
        self.mix_input, self.modality = bool(mixInput), int(modality)
        self.mixup_steps = js_round(mixupFraction * total_steps)
        self.online = (encoder,)  # a reference: TrainStep owns the encoder
        self.second = copy.deepcopy(encoder) if separateEncoder else None
        self.last_step = 0

    def stage(self):
        return 2 if self.last_step >= self.mixup_steps else 1

    def forward(self, batch):
        encoder = self.online[0]
        second = self.second if self.second is not None else encoder
        step = self.last_step = batch.step
        x1, x2 = batch.images[:2]
        input2 = sobel_edges(x2) if self.modality == 1 else x2
        q1 = batch.views[0]
        # the view-2 projection is the second modality's only with the same encoder on the same input
        q2 = batch.views[1] if self.modality == 0 and self.second is None else gather_batch(second(input2)[1])
        if step >= self.mixup_steps:
            return soft_clip_loss(q1, q2, self.tau) + soft_clip_loss(q2, q1, self.tau)
        total = 0
        for index, (net, local, unmixed, other) in enumerate([(encoder, x1, q1, q2), (second, input2, q2, q1)]):
            n = unmixed.shape[0]
            lambdas, perm = draw_mix(self.seed, step, index, n, self.beta, self.p_mix, unmixed.device)
            if self.mix_input:
                # every rank mixes its own rows of the global batch, whose partners may be on other ranks
                rows = local_rows(n, local.device)
                mixed = gather_batch(net(mix_rows(gather_batch(local), lambdas, perm)[rows])[1])
            else:
                mixed = mix_rows(unmixed, lambdas, perm)
            total = total + m3co_loss(mixed, other, lambdas, perm, self.tau)
        return total


# ---- SupReMix ----

def mixture_norm(alpha, cosine):
    """||a m + (1 - a) k|| of two unit vectors with cosine c (from constants)."""
    return torch.sqrt((alpha**2 + (1 - alpha) ** 2 + 2 * alpha * (1 - alpha) * cosine).clamp(min=1e-24))


def supremix_loss(views, targets, neg_alpha, tau, window, lam, mix_neg, mix_pos):
    """SupReMix (Wu et al. 2023, src/losses/supremix.ts), Z the 2N stacked unit rows, y_r the target of row r,
    s_rj = Z_r.Z_j:  P_i = {j != i: y_j = y_i},  N_i = {k: y_k != y_i} with weights w_ik = 1 + lambda |y_i - y_k|,
    mix negatives m_ik = norm(a_ik Z_i + (1 - a_ik) Z_k) (weights 1 + lambda (1 - a_ik) |y_i - y_k|), the mix
    positive m+_i = norm(b_i Z_j + (1 - b_i) Z_k) of the nearest lower and higher targets within `window`
    (b_i = (y_k - y_i) / (y_k - y_j)),
    D_i = sum_P e^{s_ip/tau} + [e^{Z_i.m+_i/tau}] + sum_N w_ik e^{s_ik/tau} + sum_N w~_ik e^{Z_i.m_ik/tau},
    l_i = -(sum_P s_ip/tau + [Z_i.m+_i/tau]) / |P+_i| + log D_i,  L = mean_i l_i. The mixtures are constants."""
    z = torch.cat([losses.unit(v) for v in views])
    r = z.shape[0]
    fixed = z.detach()
    cosines = z @ z.t()
    toward_fixed = z @ fixed.t()  # Z_r . sg(Z_j): the anchor side only
    fixed_cosines = cosines.detach()
    y = torch.cat([targets, targets])
    yi, yj = y[:, None], y[None, :]
    identity = torch.eye(r, dtype=z.dtype, device=z.device)
    same = (yi == yj).to(z.dtype)
    positives, negatives = same - identity, 1 - same
    distance = (yi - yj).abs()
    logits = cosines / tau
    parts = [
        logits + (1 - positives) * losses.MASK_NEG,
        logits + torch.log(1 + lam * distance) + (1 - negatives) * losses.MASK_NEG,
    ]
    numerator, positive_count = (logits * positives).sum(1), positives.sum(1)
    if mix_neg:
        own = (toward_fixed * identity).sum(1, keepdim=True)
        mix_cosine = (neg_alpha * own + (1 - neg_alpha) * toward_fixed) / mixture_norm(neg_alpha, fixed_cosines)
        mix_weight = 1 + lam * ((1 - neg_alpha) * distance)
        parts.append(mix_cosine / tau + torch.log(mix_weight) + (1 - negatives) * losses.MASK_NEG)
    if mix_pos and window > 0:
        below = (yj < yi).to(z.dtype) * ((yi - yj) < window).to(z.dtype)
        above = (yj > yi).to(z.dtype) * ((yj - yi) < window).to(z.dtype)
        row_targets = yj.expand(r, r)
        # the first row of the largest lower target, and of the smallest higher one
        lower = F.one_hot((row_targets + (1 - below) * losses.MASK_NEG).argmax(1), r).to(z.dtype)
        upper = F.one_hot((-row_targets + (1 - above) * losses.MASK_NEG).argmax(1), r).to(z.dtype)
        exists = (below.sum(1) > 0).to(z.dtype) * (above.sum(1) > 0).to(z.dtype)
        y_lower, y_upper = (lower * y).sum(1), (upper * y).sum(1)
        ones = torch.ones_like(y_upper)
        span = torch.where(exists > 0, y_upper - y_lower, ones)
        beta = torch.where(exists > 0, (y_upper - y) / span, ones)
        pair_cosine = ((lower @ fixed_cosines) * upper).sum(1)
        mix_cosine = (beta * (toward_fixed * lower).sum(1) + (1 - beta) * (toward_fixed * upper).sum(1)) / mixture_norm(beta, pair_cosine)
        mix_logit = mix_cosine / tau
        numerator = numerator + mix_logit * exists
        positive_count = positive_count + exists
        parts.append((mix_logit + (1 - exists) * losses.MASK_NEG)[:, None])
    log_denominator = torch.logsumexp(torch.cat(parts, 1), 1)
    return (log_denominator - numerator / positive_count.clamp(min=1)).mean()


class SupReMix(Objective):
    """SupReMix (src/methods/supremix.ts): supremix_loss on the batch's regression targets (dataset.target), with
    a_ik ~ Beta(alphaA, alphaB) for every (anchor, negative) row pair, drawn as the playground draws them from
    (seed, step)."""

    def __init__(self, seed, tau, window, alphaA, alphaB, mixNeg, mixPos, **params):
        super().__init__()
        self.seed, self.tau, self.window, self.lam = seed, tau, window, params["lambda"]
        self.alpha_a, self.alpha_b, self.mix_neg, self.mix_pos = alphaA, alphaB, bool(mixNeg), bool(mixPos)

    def forward(self, batch):
        if batch.targets is None:
            raise ValueError(
                "loss 'supremix' regresses a continuous target: set dataset.target to 'rotation' (or 'size' on the "
                "synthetic dataset) in the RunConfig"
            )
        rows = 2 * batch.views[0].shape[0]
        device = batch.views[0].device
        if self.mix_neg:
            draws = beta_draws(step_rng(self.seed, batch.step, 0), rows * rows, self.alpha_a, self.alpha_b, device)
            neg_alpha = draws.view(rows, rows)
        else:
            neg_alpha = torch.zeros(rows, rows, device=device)
        return supremix_loss(batch.views, batch.targets, neg_alpha, self.tau, self.window, self.lam, self.mix_neg, self.mix_pos)


# ---- MCL ----

def squared_distances(points, centroids):
    """[n, k] float64 squared distances, summed over the dimensions in order as the playground's k-means does (so
    the same floats come out and the same nearest centres win)."""
    total = points.new_zeros(points.shape[0], centroids.shape[0])
    for j in range(points.shape[1]):
        diff = points[:, j, None] - centroids[None, :, j]
        total = total + diff * diff
    return total


def kmeans(points, k, seed, max_iterations=50):
    """Seeded k-means of [n, d] points in float64 (src/methods/kmeans.ts, the same clusters from the same points and
    seed): k-means++ (the first centre a uniformly drawn point, each next one point i with probability
    D(i)^2 / sum_j D(j)^2), then Lloyd iterations (nearest centroid, ties to the lower index; centroids move to the
    mean of their points, one left without points to the point farthest from its centroid) until no assignment
    changes or max_iterations. Returns the int64 assignments [n]."""
    points = points.to(torch.float64)
    n, d = points.shape
    if n < k:
        raise ValueError(f"kmeans: {n} points cannot fill {k} clusters; lower the number of clusters")
    rng = Rng(seed)
    centroids = points.new_zeros(k, d)
    centroids[0] = points[rng.int(n)]
    nearest = torch.full((n,), math.inf, dtype=torch.float64, device=points.device)
    for c in range(1, k):
        nearest = torch.minimum(nearest, squared_distances(points, centroids[c - 1 : c])[:, 0])
        values = nearest.tolist()
        total = 0.0
        for value in values:
            total += value
        chosen = n - 1
        if total > 0:
            target = rng.next() * total
            for i, value in enumerate(values):
                target -= value
                if target < 0:
                    chosen = i
                    break
        else:
            chosen = rng.int(n)  # every point sits on a centre already
        centroids[c] = points[chosen]
    assignments = torch.full((n,), -1, dtype=torch.int64, device=points.device)
    for _ in range(max_iterations):
        distances_all = squared_distances(points, centroids)
        best = distances_all.argmin(1)  # the first of equal distances: the lower index
        distances = distances_all.gather(1, best[:, None])[:, 0]
        if torch.equal(best, assignments):
            break
        assignments = best
        # each centroid the sum of its points in index order (a CPU cumsum adds one by one), then over their count
        cpu_points, cpu_assignments = points.cpu(), assignments.cpu()
        for c in range(k):
            members = cpu_points[cpu_assignments == c]
            if members.shape[0] > 0:
                centroids[c] = (members.cumsum(0)[-1] / members.shape[0]).to(points.device)
            else:
                farthest = int(distances.argmax())  # the first of equal distances, as the playground's scan
                centroids[c] = points[farthest]
                distances[farthest] = 0
    return assignments


def refine_groups(groups, clusters, k):
    """Images share a new group when they shared the old one and fall in the same cluster, numbered densely in order
    of first appearance (refineGroups)."""
    ids = {}
    return torch.tensor([ids.setdefault(g * k + c, len(ids)) for g, c in zip(groups.tolist(), clusters.tolist())], dtype=torch.int64)


def unit_rows_float32(h):
    """norm(h) row by row as the playground's k-means input: the squares summed in float64 in order, the scaled
    rows rounded to float32."""
    values = h.detach().to(torch.float32).to(torch.float64)
    total = values.new_zeros(values.shape[0])
    for j in range(values.shape[1]):
        total = total + values[:, j] * values[:, j]
    scale = 1 / torch.sqrt(total).clamp(min=1e-12)
    return (values * scale[:, None]).to(torch.float32)


def mcl_stage_loss(views, groups, tau):
    """One MCL stage (Zhang et al. 2024): InfoNCE over the 2N stacked unit rows whose negatives are only the rows of
    the anchor's group: Neg(r) = {j != r, p(r): g_j = g_r},
    l_r = -Z_r.Z_p(r) / tau + log(e^{Z_r.Z_p(r) / tau} + sum_{Neg(r)} e^{Z_r.Z_j / tau}), L = mean_r l_r;
    groups None: one group (NT-Xent)."""
    n = views[0].shape[0]
    z = torch.cat([losses.unit(v) for v in views])
    logits = z @ z.t() / tau
    identity = torch.eye(2 * n, dtype=z.dtype, device=z.device)
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    positive = F.one_hot(partner, 2 * n).to(z.dtype)
    keep = 1 - identity
    if groups is not None:
        row_groups = torch.cat([groups, groups])
        same = (row_groups[:, None] == row_groups[None, :]).to(z.dtype)
        keep = torch.maximum(same, positive) * keep
    masked = logits + (1 - keep) * losses.MASK_NEG
    positives = (logits * positive).sum(1)
    return (torch.logsumexp(masked, 1) - positives).mean()


KMEANS_ITERATIONS = 30  # Lloyd iterations of the per-stage k-means (as the playground's)


class MCL(Objective):
    """MCL, multistage contrastive learning (Zhang et al., ECCV 2024; src/methods/mcl.ts), SimCLR form: `stages`
    stages of `stageSteps` steps (0: the run split evenly; the last stage runs to the end). Before the first step of
    stage s + 1 (at_step_boundary) the clean features h of every training image are row-normalised and clustered by
    kmeans (`clusters` centres, seed derived from the run's and the stage), each image's group becomes (its group,
    its cluster), the stage's encoder is frozen (a copy kept) and, with reinit 1, the encoder restarts from the
    run's initial weights with a fresh optimizer. Stage s + 1 trains mcl_stage_loss, negatives only from the anchor's
    group. The representation (representation()) concatenates every stage's features, each block row-normalised
    and scaled by 1 / sqrt(blocks). Stage, groups, the frozen encoders and the initial weights are checkpointed."""

    def __init__(self, encoder, total_steps, train_count, seed, tau, stages, clusters, stageSteps, reinit):
        super().__init__()
        self.tau, self.stages, self.clusters, self.seed = tau, int(stages), int(clusters), seed
        self.stage_length = stageSteps if stageSteps > 0 else max(1, total_steps // self.stages)
        if self.stages > 1 and (self.stages - 1) * self.stage_length >= total_steps:
            raise ValueError(
                f"mcl: {self.stages} stages of {self.stage_length} steps need more than "
                f"{(self.stages - 1) * self.stage_length} steps, the run has {total_steps}; lower loss.params.stages "
                "or loss.params.stageSteps, or train longer"
            )
        self.online = (encoder,)  # a reference: TrainStep owns the encoder
        self.frozen = nn.ModuleList(target_copy(encoder) for _ in range(self.stages - 1))
        self.initial = target_copy(encoder) if reinit else None
        self.register_buffer("current_stage", torch.ones((), dtype=torch.long))
        self.register_buffer("groups", torch.zeros(train_count, dtype=torch.long))

    def stage(self):
        return int(self.current_stage)

    @torch.no_grad()
    def at_step_boundary(self, step, total_steps, embed_train, reset_optimizer):
        """Before optimizer step `step` (0-based): ends the stages whose steps are done. embed_train() gives the clean
        features h [train_count, F] of the training images from the encoder as it is; reset_optimizer() clears the
        optimizer's state. Idempotent for a given step and state (a resumed run calls it again)."""
        target = min(self.stages, 1 + step // self.stage_length)
        while self.stage() < target and step < total_steps:
            self.advance(embed_train(), reset_optimizer)

    @torch.no_grad()
    def advance(self, features, reset_optimizer):
        encoder, stage = self.online[0], self.stage()
        count = self.groups.shape[0]
        if features.shape[0] != count:
            raise ValueError(f"mcl: embed_train returned {features.shape[0]} rows for {count} training images")
        if count < self.clusters:
            raise ValueError(f"mcl: {count} training images cannot fill {self.clusters} clusters; lower loss.params.clusters")
        seed = (self.seed + ((stage * 0x9E3779B1) & MASK32)) & MASK32
        assignments = kmeans(unit_rows_float32(features), self.clusters, seed, KMEANS_ITERATIONS)
        self.groups.copy_(refine_groups(self.groups.cpu(), assignments.cpu(), self.clusters))
        self.frozen[stage - 1].load_state_dict(encoder.state_dict())
        if self.initial is not None:
            encoder.load_state_dict(self.initial.state_dict())
            reset_optimizer()
        self.current_stage.fill_(stage + 1)

    def forward(self, batch):
        groups = None
        if self.stage() > 1:
            if batch.indices is None:
                raise ValueError(f"loss 'mcl' (stage {self.stage()}) draws negatives from each row's cluster: the batch needs its training-set indices")
            groups = self.groups[batch.indices]
        return mcl_stage_loss(batch.views, groups, self.tau)

    @torch.no_grad()
    def representation(self, h, images):
        """The features evaluated as h (evalFeatures): the frozen stages' h of the standardised images [N, C, H, W]
        (inference mode) and the encoder's h, each row-normalised, scaled by 1 / sqrt(blocks) and concatenated."""
        blocks = []
        for frozen in self.frozen[: self.stage() - 1]:
            was_training = frozen.training
            frozen.eval()
            blocks.append(frozen(images)[0])
            frozen.train(was_training)
        blocks.append(h)
        scale = 1 / math.sqrt(len(blocks))
        return torch.cat([losses.unit(block) * scale for block in blocks], 1)


# ---- PixPro ----

def js_hypot(a, b):
    """sqrt(a^2 + b^2) of float64 tensors as JavaScript's Math.hypot computes it (both scaled by the larger), so
    that a distance exactly at the threshold falls on the same side as in the playground."""
    a, b = a.abs(), b.abs()
    largest = torch.maximum(a, b)
    scale = torch.where(largest > 0, largest, torch.ones_like(largest))
    return torch.where(largest > 0, torch.sqrt((a / scale) ** 2 + (b / scale) ** 2) * scale, torch.zeros_like(largest))


def cell_centres(view, h, w):
    """Centres of the h x w cells of each view in source pixels, row-major: ([n, h w] x, [n, h w] y). Cell (r, c)
    has x = left + (c' + 1/2) width / w, c' = c (w - 1 - c when flipped), y = top + (r + 1/2) height / h."""
    top, left, height, width = (view[key].to(torch.float64)[:, None] for key in ("top", "left", "height", "width"))
    rows = torch.arange(h, dtype=torch.float64, device=top.device).repeat_interleave(w)[None]
    columns = torch.arange(w, dtype=torch.float64, device=top.device).repeat(h)[None]
    columns = torch.where(view["flip"].to(torch.bool)[:, None].to(top.device), w - 1 - columns, columns)
    return left + ((columns + 0.5) * width) / w, top + ((rows + 0.5) * height) / h


def correspondence_masks(a, b, h, w, threshold):
    """PixPro's positive pairs (Xie et al. 2021, eq. 1; src/nn/pixel_pairs.ts) of n images, [n, h w, h w]:
    A[n, i, j] = 1 when cell i of view a and cell j of view b are at most `threshold` apart in the source image,
    the distance between cell centres divided by the larger of the two views' cell diagonals."""
    ax, ay = cell_centres(a, h, w)
    bx, by = cell_centres(b, h, w)

    def diagonal(view):
        return js_hypot(view["width"].to(torch.float64) / w, view["height"].to(torch.float64) / h)

    scale = torch.maximum(diagonal(a), diagonal(b)).to(ax.device)[:, None, None]
    distance = js_hypot(ax[:, :, None] - bx[:, None, :], ay[:, :, None] - by[:, None, :])
    return (distance / scale <= threshold).to(torch.float32)


def unit_last(x):
    """x / max(||x||, 1e-12) along the last axis."""
    return x * torch.rsqrt((x * x).sum(-1, keepdim=True).clamp(min=1e-24))


def pixel_propagation(x, gamma, transform):
    """The pixel propagation module (Xie et al. 2021, eqs. 3-4) on pixels x [n, P, D] of one view:
    y_i = sum_j s(x_i, x_j) g(x_j), s = max(cos, 0)^gamma over the P pixels of the same image (gamma 0: every
    pixel weighs 1); g = transform on the [n P, D] rows (None: identity)."""
    n, p, d = x.shape
    unit = unit_last(x)
    cosines = unit @ unit.transpose(1, 2)
    if gamma == 0:
        weights = torch.ones_like(cosines)
    else:
        # the floor keeps pow's gradient finite at 0 for gamma < 1; the step zeroes the non-positive cosines
        weights = (cosines > 0).to(x.dtype) * cosines.clamp(min=1e-12) ** gamma
    values = x if transform is None else transform(x.reshape(n * p, d)).reshape(n, p, -1)
    return weights @ values


def pixel_terms(y, t, mask):
    """Per image n: (1 / max(|A_n|, 1)) sum_{A_n(i, j) = 1} [cos(y1_i, t2_j) + cos(y2_j, t1_i)], [n]; the pixel
    loss is minus their mean over the global batch (Xie et al. 2021, eq. 5)."""
    y1, y2 = (unit_last(v) for v in y)
    t1, t2 = (unit_last(v) for v in t)
    counts = mask.sum((1, 2)).clamp(min=1)
    forward = ((y1 @ t2.transpose(1, 2)) * mask).sum((1, 2))
    backward = ((y2 @ t1.transpose(1, 2)) * mask.transpose(1, 2)).sum((1, 2))
    return (forward + backward) / counts


def per_pixel(head, spatial):
    """A head for [rows, F] on every pixel of maps [n, F, h, w]: [n, h w, out]."""
    n, f, h, w = spatial.shape
    return head(spatial.permute(0, 2, 3, 1).reshape(n * h * w, f)).reshape(n, h * w, -1)


class PixPro(Objective):
    """PixPro (Xie et al., CVPR 2021; src/methods/pixpro.ts). The backbone's maps of the two views (one pass,
    BatchNorm over both) go through the pixel head (Linear-BN-ReLU-Linear, pixHidden -> pixDim, both views in one
    batch) giving x; y_v = pixel_propagation(x_v, gamma, g) with g = ppmLayers linear layers (0: identity); the
    momentum target (encoder + pixel head, EMA with BYOL's cosine schedule from baseMomentum) gives t. Cells of
    the two views pair up within T cell diagonals (correspondence_masks of the crop boxes), and
    L = -mean_n pixel_terms + alpha [4 - 2 (mean_i s(q(z1)_i, z'2_i) + mean_i s(q(z2)_i, z'1_i))], the second part
    BYOL's on the projections with predictor q (only when alpha > 0). BatchNorm of the pixel head and of g covers
    every process's pixels; the per-image terms are gathered, so the loss is the global batch's."""

    uses_maps = True

    def __init__(self, encoder, T, gamma, ppmLayers, baseMomentum, pixHidden, pixDim, alpha, predHidden):
        super().__init__()
        self.T, self.gamma, self.base_momentum, self.alpha = T, gamma, baseMomentum, alpha
        self.target = target_copy(encoder)
        self.pix = MLPHead(encoder.feature_dim, 2, int(pixHidden), int(pixDim), True, "pixpro_pix")
        initialise(self.pix)
        self.target_pix = target_copy(self.pix)
        layers, dim = int(ppmLayers), int(pixDim)
        self.transform = MLPHead(dim, layers, dim, dim, True, "pixpro_transform") if layers > 0 else None
        if self.transform is not None:
            initialise(self.transform)
        self.predictor = predictor_head(encoder.embedding_dim, int(predHidden), "pixpro_predictor") if alpha > 0 else None

    def forward(self, batch):
        if batch.maps is None or batch.geometry is None:
            raise ValueError("loss 'pixpro' needs the views' spatial maps and crop boxes (batch.maps, batch.geometry)")
        maps = batch.maps[:2]
        n, _, h, w = maps[0].shape
        mask = correspondence_masks(batch.geometry[0], batch.geometry[1], h, w, self.T).to(maps[0].device)
        x1, x2 = per_pixel(self.pix, torch.cat(maps)).chunk(2)
        y = [pixel_propagation(x, self.gamma, self.transform) for x in (x1, x2)]
        with torch.no_grad():
            target_map, _, target_z = self.target.forward_spatial(torch.cat(batch.images[:2]))
            t = per_pixel(self.target_pix, target_map).chunk(2)
        loss = -gather_batch(pixel_terms(y, t, mask)).mean()
        if self.predictor is not None:
            k1, k2 = (gather_batch(k) for k in target_z.chunk(2))
            p1, p2 = (self.predictor(z) for z in batch.views[:2])
            loss = loss + self.alpha * (4 - 2 * (mean_row_cosine(p1, k2) + mean_row_cosine(p2, k1)))
        return loss

    def after_step(self, step, total_steps, encoder):
        momentum = byol_target_decay(step, total_steps, self.base_momentum)
        momentum_update(self.target, encoder, momentum)
        momentum_update(self.target_pix, self.pix, momentum)


# ---- cMIM ----

LOGVAR_RANGE = (-6.0, 2.0)  # the MIM reference code's Hardtanh on the log-variance
LOG_2PI = math.log(2 * math.pi)
DECODER_STAGES = 2  # 2x upsamplings: the decoder's map starts at ceil(H / 4) x ceil(W / 4)


class ConvDecoder(nn.Module):
    """cMIM's decoder (src/nn/decoder.ts), c = width, h0 = ceil(H / 4), w0 = ceil(W / 4):
    a0 = ReLU(BN(reshape(Linear(z)))) [2c, h0, w0] (the Linear's outputs in channels-last order, as TF.js
    reshapes them), a_s = ReLU(BN(Conv3x3(Upsample2x(a_{s-1})))) [c, ...] for s = 1, 2 (nearest neighbour),
    x^ = Conv3x3(a2) + b cropped to the top-left H x W. Returns (x^ [N, C, H, W], the informative embedding
    [N, 4c]: a0, a1, a2 each averaged over its positions, concatenated). Runs on gathered rows (no cross-rank
    BatchNorm)."""

    def __init__(self, latent_dim, image_shape, width, name="cmim_decoder"):
        super().__init__()
        height, width_px, channels = image_shape
        scale = 2**DECODER_STAGES
        self.image_size = (height, width_px)
        self.start = (-(-height // scale), -(-width_px // scale), 2 * width)
        h0, w0, c0 = self.start
        self.fc = Dense(latent_dim, h0 * w0 * c0, bias=False, tfjs_name=f"{name}_fc")
        self.bn0 = BatchNorm(c0, sync=False, tfjs_name=f"{name}_bn0")
        self.convs = nn.ModuleList(
            Conv2dSame(c0 if s == 1 else width, width, 3, tfjs_name=f"{name}_conv{s}") for s in range(1, DECODER_STAGES + 1)
        )
        self.norms = nn.ModuleList(BatchNorm(width, sync=False, tfjs_name=f"{name}_bn{s}") for s in range(1, DECODER_STAGES + 1))
        self.out = Conv2dSame(width, channels, 3, tfjs_name=f"{name}_out", bias=True)
        initialise(self)  # He-normal conv kernels (fan in), as the playground's
        std = math.sqrt(2 / latent_dim) / 0.87962566103423978  # He-normal for the Linear too
        nn.init.trunc_normal_(self.fc.weight, std=std, a=-2 * std, b=2 * std)
        nn.init.xavier_uniform_(self.out.weight)  # the playground's Glorot-uniform output conv
        nn.init.zeros_(self.out.bias)

    def forward(self, z):
        h0, w0, c0 = self.start
        a = F.relu(self.bn0(self.fc(z).view(-1, h0, w0, c0).permute(0, 3, 1, 2)))
        hidden = [a]
        for conv, norm in zip(self.convs, self.norms):
            a = F.relu(norm(conv(F.interpolate(a, scale_factor=2, mode="nearest"))))
            hidden.append(a)
        x = self.out(a)[:, :, : self.image_size[0], : self.image_size[1]]
        return x, torch.cat([t.mean(dim=(2, 3)) for t in hidden], 1)


def amim_loss(x, xhat, z, logvar, eps):
    """A-MIM (Livne, Swersky & Fleet 2019) with a unit-variance Gaussian decoder and the anchor N(0, I):
    L = -(1/N) sum_i [log p(x_i | z_i) + (log q(z_i | x_i) + log P(z_i)) / 2],
    log p(x | z) = -||x - x^||^2 / 2 - (P / 2) log 2 pi (P = H W C), log q(z | x) = sum_d [-log 2 pi / 2 - logvar_d / 2
    - eps_d^2 / 2], log P(z) = sum_d [-log 2 pi / 2 - z_d^2 / 2]."""
    pixels, dim = x[0].numel(), z.shape[1]
    log_px = -0.5 * ((x - xhat) ** 2).sum((1, 2, 3)) - 0.5 * pixels * LOG_2PI
    log_q = -0.5 * (logvar + eps**2).sum(1) - 0.5 * dim * LOG_2PI
    log_p = -0.5 * (z**2).sum(1) - 0.5 * dim * LOG_2PI
    return -(log_px + 0.5 * (log_q + log_p)).mean()


def posterior_contrastive(z, mu, tau):
    """L_con = -(1/N) sum_i log [exp(cos(z_i, mu_i) / tau) / sum_j exp(cos(z_i, mu_j) / tau)]."""
    logits = losses.unit(z) @ losses.unit(mu).t() / tau
    return (torch.logsumexp(logits, 1) - logits.diagonal()).mean()


class CMIM(Objective):
    """cMIM (Livne 2025; src/methods/cmim.ts) on the clean images (one unaugmented view): mu = z (the projector
    output), logvar = clamp(Linear(h), -6, 2), zeta = mu + exp(logvar / 2) eps, x^ = decoder(zeta), and
    L = amim_loss(x, x^, zeta, logvar, eps) + lambda posterior_contrastive(zeta, mu, tau), x the standardised
    images. eps ~ N(0, I) is the playground's draw: mulberry32 seeded by (the method's seed + (step + 1) 0x9E3779B1),
    Box-Muller pairs row by row, so the same step draws the same noise. informative(mu) is cMIM's informative
    embedding. The heads run on the gathered batch (every process decodes all of it)."""

    uses_features = True

    def __init__(self, feature_dim, embedding_dim, image_shape, seed, tau, decoderWidth, **params):
        super().__init__()
        self.tau, self.lam = tau, params["lambda"]
        rng = Rng(seed)
        rng.fork(), rng.fork()  # the playground's initialisation seeds of the two heads
        self.noise_seed = rng.fork()
        self.logvar = MLPHead(feature_dim, 1, feature_dim, embedding_dim, False, "cmim_logvar", sync=False)
        initialise(self.logvar)
        self.decoder = ConvDecoder(embedding_dim, image_shape, int(decoderWidth))

    def noise(self, step, n, d, device=None):
        """The eps [n, d] of optimizer step `step` (0-based): the playground's draw number step + 1."""
        rng = Rng((self.noise_seed + (step + 1) * 0x9E3779B1) & MASK32)
        u = uniforms(rng, 2 * n * d, device)
        first, second = u[0::2].clamp(min=1e-12), u[1::2]
        return (torch.sqrt(-2 * torch.log(first)) * torch.cos(2 * math.pi * second)).to(torch.float32).view(n, d)

    def forward(self, batch):
        mu, h = batch.views[0], batch.features[0]
        x = gather_batch(batch.images[0])
        eps = self.noise(batch.step, mu.shape[0], mu.shape[1], mu.device).to(mu.dtype)
        logvar = self.logvar(h).clamp(*LOGVAR_RANGE)
        z = mu + torch.exp(0.5 * logvar) * eps
        xhat, _ = self.decoder(z)
        loss = amim_loss(x, xhat, z, logvar, eps)
        if self.lam > 0:
            loss = loss + self.lam * posterior_contrastive(z, mu, self.tau)
        return loss

    @torch.no_grad()
    def informative(self, mu):
        """cMIM's informative embedding of posterior means mu [N, D]: the decoder's pooled hidden states when it
        decodes mu, in inference mode ([N, 4 decoderWidth])."""
        was_training = self.decoder.training
        self.decoder.eval()
        out = self.decoder(mu)[1]
        self.decoder.train(was_training)
        return out


def build_objective(config, encoder, *, seed, num_classes, steps_per_epoch, start_step=0, total_steps=0, train_count=0, image_shape=None):
    """The run's objective (config.loss), built around the online encoder it trains (image_shape (H, W, C): the
    dataset's, for the objectives that reconstruct images)."""
    loss_id, params = config["loss"]["id"], config["loss"]["params"]
    if loss_id in NOT_IN_PYTORCH:
        raise ValueError(
            f"loss '{loss_id}' ({NOT_IN_PYTORCH[loss_id]}) has no PyTorch implementation in this project, so train.py "
            "cannot train or resume it; the exported model.safetensors still loads with model.load_pretrained "
            "(features, embed.py); train it in the playground (npm run train)"
        )
    if loss_id in losses.LOSSES:
        return Loss(loss_id, params)
    if loss_id == "moco":
        return MoCo(encoder, seed=seed, **params)
    if loss_id == "byol":
        return BYOL(encoder, **params)
    if loss_id == "simsiam":
        return SimSiam(encoder, **params)
    if loss_id == "swav":
        return SwAV(encoder.embedding_dim, seed=seed, steps_per_epoch=steps_per_epoch, start_step=start_step, **params)
    if loss_id == "hydra":
        return Hydra(encoder.embedding_dim, num_classes, seed=seed, **params)
    if loss_id == "amcl":
        return AMCL(encoder.feature_dim, encoder.embedding_dim, config["projector"], **params)
    if loss_id == "supremix":
        return SupReMix(seed, **params)
    if loss_id == "mcl":
        return MCL(encoder, total_steps, train_count, seed=seed, **params)
    if loss_id == "m3col":
        return M3CoL(encoder, total_steps, seed=seed, **params)
    if loss_id == "pixpro":
        return PixPro(encoder, **params)
    if loss_id == "cmim":
        return CMIM(encoder.feature_dim, encoder.embedding_dim, image_shape, seed=seed, **params)
    raise ValueError(f"unknown loss '{loss_id}'")
