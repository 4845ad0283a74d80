"""The playground's stateless losses in PyTorch, formula for formula (docs/losses.md, src/losses/*.ts).

Every loss takes `views`, a list of V tensors [N, D] (projector outputs of the V augmented views of the same N
instances, in the same order), plus `labels` [N] where it needs them, and returns a scalar. Losses normalise the
rows themselves where their formula says norm(.). Masked logits get MASK_NEG (a large finite negative, never -inf)
added, as in the TypeScript code. The stateful methods (moco, byol, simsiam, swav, hydra, amcl) are in methods.py.
"""

import itertools
import math

import torch
import torch.nn.functional as F

MASK_NEG = -1e9


def unit(z):
    """norm(z) = z / max(||z||, 1e-12), row-wise."""
    return F.normalize(z, dim=1, eps=1e-12)


def eye_like(n, x):
    return torch.eye(n, dtype=x.dtype, device=x.device)


def ntxent(views, tau=0.5, **_):
    """NT-Xent (SimCLR, Chen et al. 2020). For one view pair, Z = the 2N stacked unit rows, p(i) = i's other view:
        l_i = -Z_i.Z_p(i) / tau + LSE_{k != i}(Z_i.Z_k / tau),   L = mean over the 2N anchors
    (the positive stays in the denominator); for V > 2, L is the mean over the V(V-1)/2 view pairs."""
    pair_losses = []
    for a, b in itertools.combinations(range(len(views)), 2):
        z = torch.cat([unit(views[a]), unit(views[b])])
        n = views[a].shape[0]
        logits = z @ z.t() / tau + MASK_NEG * eye_like(2 * n, z)
        partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
        positives = (z * z[partner]).sum(1) / tau
        pair_losses.append((torch.logsumexp(logits, dim=1) - positives).mean())
    return torch.stack(pair_losses).mean()


def decoupled(views, tau, weights=None):
    """DCL's l_i = -w_i Z_i.Z_p(i) / tau + LSE_{k not in {i, p(i)}}(Z_i.Z_k / tau), mean over the 2N anchors."""
    n = views[0].shape[0]
    z = torch.cat([unit(views[0]), unit(views[1])])
    same_instance = eye_like(n, z).repeat(2, 2)  # the anchor itself and its positive, in both view blocks
    negatives_lse = torch.logsumexp(z @ z.t() / tau + MASK_NEG * same_instance, dim=1)
    cosines = (z[:n] * z[n:]).sum(1)
    w = torch.ones_like(cosines) if weights is None else weights(cosines)
    return (negatives_lse.sum() - 2 / tau * (w * cosines).sum()) / (2 * n)


def dcl(views, tau=0.1, **_):
    """DCL (Yeh et al. 2022): NT-Xent without the positive in the denominator (V = 2, N >= 2)."""
    return decoupled(views, tau)


def dclw(views, tau=0.1, sigma=0.5, **_):
    """DCLW (Yeh et al. 2022): DCL with w_i = 2 - N softmax_j(c_j / sigma)_i on the positive, c_j = cos(z1_j, z2_j);
    w is a constant (no gradient) and averages 1."""
    return decoupled(views, tau, lambda c: (2 - c.shape[0] * torch.softmax(c / sigma, dim=0)).detach())


def supcon(views, labels, tau=0.1, **_):
    """SupCon L_out (Khosla et al. 2020). Z = all VN unit rows, A(i) = every row but i, P(i) = rows of A(i) with i's
    label:  l_i = -(1/|P(i)|) sum_{p in P(i)} (Z_i.Z_p / tau - LSE_{a in A(i)} Z_i.Z_a / tau), mean over anchors
    with |P(i)| > 0."""
    if labels is None:
        raise ValueError("loss 'supcon' needs class labels; use a labelled dataset or a self-supervised loss such as 'ntxent'")
    z = torch.cat([unit(v) for v in views])
    self_mask = eye_like(z.shape[0], z)
    logits = z @ z.t() / tau + MASK_NEG * self_mask
    log_probabilities = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    row_labels = labels.repeat(len(views))
    positives = (row_labels[:, None] == row_labels[None, :]).to(z.dtype) - self_mask
    counts = positives.sum(1)
    mean_positive = (positives * log_probabilities).sum(1) / counts.clamp(min=1)
    used = (counts > 0).to(z.dtype)
    return -(mean_positive * used).sum() / used.sum().clamp(min=1)


def stacked_units(views):
    return torch.stack([unit(v) for v in views])  # [V, N, D]


def instance_gram(units):
    """gram[i, l, m] = units[l][i] . units[m][i]: [N, V, V]."""
    by_instance = units.transpose(0, 1)
    return by_instance @ by_instance.transpose(1, 2)


def mv_infonce(views, tau=0.5, **_):
    """MV-InfoNCE (Koromilas et al. 2025): one term per instance over all its views,
        L = mean_i (log sum_l sum_{(j,m) != (i,l)} exp S(U_il, U_jm) - log sum_{l != l'} exp S(U_il, U_il'))."""
    units = stacked_units(views)
    v, n, d = units.shape
    z = units.reshape(v * n, d)
    logits = z @ z.t() / tau + MASK_NEG * eye_like(v * n, z)
    log_denominator = torch.logsumexp(torch.logsumexp(logits, dim=1).reshape(v, n), dim=0)
    positive_logits = instance_gram(units) / tau + MASK_NEG * eye_like(v, z)
    log_numerator = torch.logsumexp(positive_logits.reshape(n, v * v), dim=1)
    return (log_denominator - log_numerator).mean()


def mv_dhel(views, tau=0.5, **_):
    """MV-DHEL (Koromilas et al. 2025): alignment over all view pairs and uniformity within each view, decoupled:
        L = mean_i (sum_l LSE_{j != i} S(U_il, U_jl) - LSE_{l < l'} S(U_il, U_il'))."""
    units = stacked_units(views)
    v, n, _ = units.shape
    not_upper = torch.tril(torch.ones(v, v, dtype=units.dtype, device=units.device))  # l >= m
    alignment = torch.logsumexp((instance_gram(units) / tau + MASK_NEG * not_upper).reshape(n, v * v), dim=1)
    same_view = units @ units.transpose(1, 2) / tau + MASK_NEG * eye_like(n, units)  # [V, N, N]
    uniformity = torch.logsumexp(same_view, dim=2).sum(0)
    return (uniformity - alignment).mean()


def uniformity(x, t):
    """log(mean_{i != j} exp(-t ||x_i - x_j||^2))."""
    n = x.shape[0]
    squared_norms = (x * x).sum(1, keepdim=True)
    squared_distances = squared_norms + squared_norms.t() - 2 * x @ x.t()
    logits = -t * squared_distances + MASK_NEG * eye_like(n, x)
    return torch.logsumexp(logits.reshape(-1), dim=0) - math.log(n * (n - 1))


def align_uniform(views, alpha=2, t=2, **params):
    """Alignment + uniformity (Wang & Isola 2020): a, b = norm(views[0]), norm(views[1]),
        L = mean_i max(||a_i - b_i||^2, 1e-12)^(alpha/2) + lambda (unif(a) + unif(b)) / 2."""
    lam = params.get("lambda", 1)
    a, b = unit(views[0]), unit(views[1])
    alignment = ((a - b) ** 2).sum(1).clamp(min=1e-12).pow(alpha / 2).mean()
    return alignment + lam * (uniformity(a, t) + uniformity(b, t)) / 2


def standardize_columns(z):
    mean = z.mean(0, keepdim=True)
    variance = ((z - mean) ** 2).mean(0, keepdim=True)  # biased, as the reference code
    return (z - mean) / torch.sqrt(variance + 1e-5)


def barlow_twins(views, **params):
    """Barlow Twins (Zbontar et al. 2021): c = zhat_1^T zhat_2 / N with column-standardised views,
        L = sum_k (1 - c_kk)^2 + lambda sum_{k != l} c_kl^2."""
    lam = params.get("lambda", 0.0051)
    n, d = views[0].shape
    c = standardize_columns(views[0]).t() @ standardize_columns(views[1]) / n
    identity = eye_like(d, c)
    return ((identity - c * identity) ** 2).sum() + lam * ((c * (1 - identity)) ** 2).sum()


def variance_and_covariance(z):
    n, d = z.shape
    centered = z - z.mean(0, keepdim=True)
    covariance = centered.t() @ centered / (n - 1)
    identity = eye_like(d, z)
    std = torch.sqrt(torch.diagonal(covariance) + 1e-4)
    return torch.relu(1 - std).mean(), ((covariance * (1 - identity)) ** 2).sum() / d


def vicreg(views, sim=25, var=25, cov=1, **_):
    """VICReg (Bardes et al. 2022): L = sim * mean (z1 - z2)^2 + var * (v(z1) + v(z2)) / 2 + cov * (c(z1) + c(z2)),
    v = mean_k relu(1 - sqrt(unbiased var_k + 1e-4)), c = sum_{k != l} C_kl^2 / D."""
    invariance = ((views[0] - views[1]) ** 2).mean()
    v1, c1 = variance_and_covariance(views[0])
    v2, c2 = variance_and_covariance(views[1])
    return sim * invariance + var * (v1 + v2) / 2 + cov * (c1 + c2)


def cacr(views, alpha=1, beta=1, tPos=1, tNeg=0.9, **_):
    """CACR (Zheng et al. 2021), c(u, v) = ||norm(u) - norm(v)||^2, softmax weights not detached:
        L1 = mean_{q,i} sum_{l != q} softmax_l(tPos c(z_qi, z_li)) c(z_qi, z_li)
        L2 = -mean_{a<b,i} sum_{j != i} softmax_j(-tNeg c(z_ai, z_bj)) c(z_ai, z_bj),   L = alpha L1 + beta L2."""
    units = [unit(v) for v in views]
    n, v = views[0].shape[0], len(views)
    by_instance = torch.stack(units, 1)  # [N, V, D]
    cost = ((by_instance[:, :, None] - by_instance[:, None, :]) ** 2).sum(3)  # [N, V, V]
    other_views = 1 - eye_like(v, cost)
    weights = torch.softmax(cost * tPos + (1 - other_views) * MASK_NEG, dim=2)
    attraction = (weights * cost).sum(2).mean()
    other_instances = 1 - eye_like(n, cost)
    repulsions = []
    for a, b in itertools.combinations(range(v), 2):
        x, y = units[a], units[b]
        c = (x * x).sum(1, keepdim=True) + (y * y).sum(1, keepdim=True).t() - 2 * x @ y.t()
        w = torch.softmax(c * -tNeg + (1 - other_instances) * MASK_NEG, dim=1)
        repulsions.append((w * c).sum(1))
    return alpha * attraction + beta * -torch.cat(repulsions).mean()


def clip(views, tau=0.07, **_):
    """CLIP (Radford et al. 2021): logits = norm(z1) norm(z2)^T / tau, L = (CE(logits) + CE(logits^T)) / 2."""
    a, b = unit(views[0]), unit(views[1])
    logits = a @ b.t() / tau
    positives = (a * b).sum(1) / tau
    return (torch.logsumexp(logits, 1).mean() + torch.logsumexp(logits, 0).mean()) / 2 - positives.mean()


def mnr(views, scale=20, **_):
    """Multiple Negatives Ranking (Henderson et al. 2017): L = CE(scale norm(z1) norm(z2)^T, diagonal), one direction."""
    a, b = unit(views[0]), unit(views[1])
    return (torch.logsumexp(a @ b.t() * scale, 1) - (a * b).sum(1) * scale).mean()


LOSSES = {
    "ntxent": ntxent,
    "dcl": dcl,
    "dclw": dclw,
    "supcon": supcon,
    "mv_infonce": mv_infonce,
    "mv_dhel": mv_dhel,
    "align_uniform": align_uniform,
    "barlow_twins": barlow_twins,
    "vicreg": vicreg,
    "cacr": cacr,
    "clip": clip,
    "mnr": mnr,
}
