"""The run's objective as an nn.Module for train.py: a stateless loss (losses.py) or a stateful method with its own
networks and buffers (src/methods/*.ts): MoCo v2, BYOL, SimSiam, SwAV, Hydra and AMCL.

An objective gets a Batch: the projections `views` of the whole global batch (gathered from every rank, in global
order), the backbone `features` likewise (only for objectives with uses_features), its `labels`, and this rank's own
standardised view `images` (methods with a target network run it on them and gather its outputs). Every rank
computes the same loss; distributed.py says why the gradients then come out as in a single process. Hooks:
before_optimizer_step() (after backward) and after_step(step, total_steps, encoder) (after the optimizer step:
queues, momentum and EMA updates).
"""

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

import losses
from config import NOT_IN_PYTORCH
from distributed import gather_batch
from model import BatchNorm, Dense, MLPHead, initialise


@dataclass
class Batch:
    views: list  # V x [B, D] projections of the global batch
    features: list  # V x [B, F] backbone features of the global batch, or None
    labels: torch.Tensor  # [B] class labels
    images: list  # V x [b, C, H, W] this rank's standardised views


def mean_row_cosine(a, b):
    return (losses.unit(a) * losses.unit(b)).sum(1).mean()


class Objective(nn.Module):
    uses_features = False  # whether forward reads batch.features (train.py gathers them only then)

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


def build_objective(config, encoder, *, seed, num_classes, steps_per_epoch, start_step=0):
    """The run's objective (config.loss), built around the online encoder it trains."""
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
    raise ValueError(f"unknown loss '{loss_id}'")
