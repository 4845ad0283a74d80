#!/usr/bin/env python3
"""PyTorch training reference for `npm run parity`: SimCLR (NT-Xent, two views) on CIFAR-10 from a RunConfig.

Reads a complete RunConfig (the JSON `npm run parity` and `npm run train` write, every default filled in) and
trains what it describes with plain PyTorch on the CPU, evaluating the kNN monitor of the engine (weighted kNN,
k = eval.knnK, T = eval.knnTemperature, on L2-normalised backbone features h of the first eval.size test images
against the first eval.bankSize training images, clean, BatchNorm in eval mode) before training and after every
epoch. Every choice where frameworks differ follows the RunConfig, so one config gives the engine's recipe on both
sides; `npm run parity -- --torch-set path=value` changes it on this side only:

  nn.init              'torch': PyTorch's own Conv2d/Linear defaults, U(+-1/sqrt(fan_in)) kernels and biases;
                       'tfjs': the engine's (convs truncated normal 2 sigma, sigma = sqrt(2/fan_out), no rescale;
                       Linear He-uniform U(+-sqrt(6/fan_in)); biases 0)
  nn.padding           'symmetric': padding = 1 (PyTorch); 'same': TensorFlow's (stride 2: bottom/right only)
  nn.batchNormViews    'joint': both views in one forward pass; 'per-view': one forward pass per view
  dataset.standardize  'channel': per-channel mean/std of the first 10,000 training images; 'none'
  optimizer            type adam (coupled L2, torch.optim.Adam) | adamw (decoupled) | sgd, lr, betas, eps,
                       weightDecay on kernels only (the engine's rule; --decay all: every parameter, as
                       torch.optim.Adam(net.parameters(), weight_decay=...) does)
  schedule             constant | cosine with linear warm-up (the engine's learningRate, per step)

The augmentations are the engine's (src/engine/augment.ts) in torch ops, per image: torchvision's
RandomResizedCrop sampling (10 tries, half-to-even rounding, central fall-back), bilinear resize with half-pixel
centres and clamped ends (the engine's cropAndResize box), flip, ColorJitter with a random op order and torchvision's factor ranges (brightness,
contrast around the mean luma, saturation, hue in HSV), each op clipped to [0, 1], then grayscale (BT.601 luma).
The random draws come from torch's generator, so the two sides see different (equally distributed) views.

Prints one JSON object a line: {"epoch", "step", "knn", "loss_mean", "loss_last", "seconds"} per evaluation
(epoch 0 = before training), then {"done": true, ...}. Debian's python3-torch: run with /usr/bin/python3.
Usage: /usr/bin/python3 bench/parity/simclr_reference.py --config run.json --data-dir DIR [--epochs E]
       [--threads N] [--decay kernels|all]
"""
import argparse
import glob
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

RECORD = 1 + 3 * 32 * 32
LUMA = (0.299, 0.587, 0.114)


# ---- data ---------------------------------------------------------------------------------------------------


def read_cifar(paths):
    """CIFAR-10 binary records -> (uint8 images [N, 32, 32, 3], int64 labels [N])."""
    raw = np.concatenate([np.fromfile(p, dtype=np.uint8) for p in paths])
    if raw.size % RECORD:
        raise SystemExit(f"{paths}: not CIFAR-10 binary (size {raw.size} is not a multiple of {RECORD})")
    records = raw.reshape(-1, RECORD)
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), records[:, 0].astype(np.int64)


def load_cifar(data_dir):
    """data_batch_*.bin (in name order) as the training split, test_batch.bin as the test split."""
    train_files = sorted(glob.glob(os.path.join(data_dir, "data_batch_*.bin")))
    test_file = os.path.join(data_dir, "test_batch.bin")
    if not train_files or not os.path.exists(test_file):
        raise SystemExit(f"{data_dir}: needs data_batch_*.bin and test_batch.bin (the CIFAR-10 binary version)")
    return read_cifar(train_files), read_cifar([test_file])


def channel_statistics(images, count):
    """The engine's channelStatistics: mean and std per channel of the first min(count, 10000) images, in [0, 1]."""
    x = images[: min(count, 10_000)].reshape(-1, images.shape[-1]).astype(np.float64) / 255
    mean = x.mean(axis=0)
    std = np.sqrt(np.maximum((x * x).mean(axis=0) - mean**2, 1e-6))
    return torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)


# ---- network ------------------------------------------------------------------------------------------------


def tf_same_pad(x, kernel, stride):
    """TensorFlow 'same' padding: total = max((ceil(in / s) - 1) s + k - in, 0), the extra pixel at the bottom/right."""
    pads = []
    for size in (x.shape[3], x.shape[2]):
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class Conv(nn.Conv2d):
    """Bias-free conv with 'symmetric' (padding k // 2) or TensorFlow 'same' padding."""

    def __init__(self, cin, cout, kernel, stride, padding):
        super().__init__(cin, cout, kernel, stride, kernel // 2 if padding == "symmetric" else 0, bias=False)
        self.same = padding == "same"

    def forward(self, x):
        return super().forward(tf_same_pad(x, self.kernel_size[0], self.stride[0]) if self.same else x)


def bn2d(channels):
    return nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1)  # torch momentum 0.1 = tfjs momentum 0.9


class BasicBlock(nn.Module):
    """src/nn/resnet.ts: y = BN(Conv3x3(ReLU(BN(Conv3x3_stride(x))))); out = ReLU(y + shortcut)."""

    def __init__(self, cin, cout, stride, padding):
        super().__init__()
        self.conv1, self.bn1 = Conv(cin, cout, 3, stride, padding), bn2d(cout)
        self.conv2, self.bn2 = Conv(cout, cout, 3, 1, padding), bn2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(Conv(cin, cout, 1, stride, padding), bn2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class Backbone(nn.Module):
    """CIFAR ResNet of src/nn/resnet.ts: 3x3 stride-1 stem, stage s > 0 starts with stride 2, global average pool."""

    def __init__(self, widths, blocks, in_channels, padding):
        super().__init__()
        self.stem = nn.Sequential(Conv(in_channels, widths[0], 3, 1, padding), bn2d(widths[0]), nn.ReLU())
        layers, cin = [], widths[0]
        for s, (width, count) in enumerate(zip(widths, blocks)):
            for b in range(count):
                layers.append(BasicBlock(cin, width, 2 if s > 0 and b == 0 else 1, padding))
                cin = width
        self.blocks = nn.Sequential(*layers)
        self.features = cin

    def forward(self, x):
        return self.blocks(self.stem(x)).mean(dim=(2, 3))


class Network(nn.Module):
    """Backbone + projector (src/nn/heads.ts): hidden layers Linear -> [BatchNorm1d] -> ReLU, the last a plain Linear."""

    def __init__(self, config, in_channels=3):
        super().__init__()
        encoder, spec = config["encoder"], config["projector"]
        if encoder["type"] != "resnet":
            raise SystemExit(f"encoder.type {encoder['type']!r}: this reference builds the 'resnet' encoder only")
        self.backbone = Backbone(encoder["widths"], encoder["blocks"], in_channels, config["nn"]["padding"])
        layers, width = [], self.backbone.features
        for k in range(spec["layers"]):
            last = k == spec["layers"] - 1
            out = spec["out"] if last else spec["hidden"]
            layers.append(nn.Linear(width, out, bias=last or not spec["batchNorm"]))
            if not last:
                if spec["batchNorm"]:
                    layers.append(nn.BatchNorm1d(out, eps=1e-5, momentum=0.1))
                layers.append(nn.ReLU())
            width = out
        self.projector = nn.Sequential(*layers)

    def forward(self, x):
        h = self.backbone(x)
        return h, self.projector(h)


def truncated_normal_(tensor, std, generator):
    """TF.js truncatedNormal: N(0, std) redrawn until within 2 std (no rescaling for the truncation)."""
    out = torch.empty(tensor.numel())
    filled = 0
    while filled < out.numel():
        draw = torch.randn(2 * (out.numel() - filled) + 16, generator=generator) * std
        keep = draw[draw.abs() <= 2 * std][: out.numel() - filled]
        out[filled : filled + keep.numel()] = keep
        filled += keep.numel()
    with torch.no_grad():
        tensor.copy_(out.view_as(tensor))


def init_tfjs_(net, generator):
    """The engine's init 'tfjs': convs truncated normal, std sqrt(2 / fan_out); Linear He-uniform; biases 0."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
            truncated_normal_(m.weight, math.sqrt(2 / fan_out), generator)
        elif isinstance(m, nn.Linear):
            bound = math.sqrt(6 / m.in_features)
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.weight.shape, generator=generator) * 2 * bound - bound)
                if m.bias is not None:
                    m.bias.zero_()


# ---- augmentation -------------------------------------------------------------------------------------------


def round_half_even(x):
    return int(round(x))  # Python's round() is half-to-even, as the engine's roundHalfToEven


def sample_crop(height, width, scale, ratio, rand):
    """torchvision RandomResizedCrop.get_params (the engine's sampleCropBox): (top, left, h, w)."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * (scale[0] + (scale[1] - scale[0]) * rand())
        aspect = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * rand())
        w = round_half_even(math.sqrt(target * aspect))
        h = round_half_even(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return int(rand() * (height - h + 1)), int(rand() * (width - w + 1)), h, w
    in_ratio = width / height
    w, h = width, height
    if in_ratio < ratio[0]:
        h = round_half_even(w / ratio[0])
    elif in_ratio > ratio[1]:
        w = round_half_even(h * ratio[1])
    return (height - h) // 2, (width - w) // 2, h, w


EDGE_INSET = 1e-4


def crop_axis(start, size, out, full):
    """The engine's cropToBox along one axis: sample k at start + (k + 0.5) size / out - 0.5, the two ends clamped
    EDGE_INSET inside the image (exact ends for the identity), points spaced evenly between them."""
    inset = 0.0 if (start == 0 and size == full and out == full) else EDGE_INSET
    clamp = lambda c: min(max(c, inset), full - 1 - inset)
    first = clamp(start + 0.5 * size / out - 0.5)
    last = clamp(start + size - 0.5 * size / out - 0.5)
    if out == 1:
        return torch.tensor([(first + last) / 2], dtype=torch.float64)
    return first + torch.arange(out, dtype=torch.float64) * ((last - first) / (out - 1))


def resize_crop(image, box, flip, out_h, out_w):
    """Crop + resize + flip of one [C, H, W] image as the engine's tf.image.cropAndResize call: bilinear at the
    crop_axis sample points of the whole image; a flip reverses the x sample points."""
    top, left, h, w = box
    _, height, width = image.shape
    ys = crop_axis(top, h, out_h, height)
    xs = crop_axis(left, w, out_w, width)
    if flip:
        xs = xs.flip(0)
    y0 = ys.floor().long().clamp(0, height - 1)
    x0 = xs.floor().long().clamp(0, width - 1)
    y1 = (y0 + 1).clamp(max=height - 1)
    x1 = (x0 + 1).clamp(max=width - 1)
    fy = (ys - y0).float().view(1, -1, 1)
    fx = (xs - x0).float().view(1, 1, -1)
    top_row = image[:, y0][:, :, x0] * (1 - fx) + image[:, y0][:, :, x1] * fx
    bottom_row = image[:, y1][:, :, x0] * (1 - fx) + image[:, y1][:, :, x1] * fx
    return top_row * (1 - fy) + bottom_row * fy


def luma(x):
    return LUMA[0] * x[0:1] + LUMA[1] * x[1:2] + LUMA[2] * x[2:3]


def adjust_hue(x, shift):
    """torchvision _rgb2hsv / _hsv2rgb with the hue shifted by `shift` turns (the engine's adjustHue)."""
    r, g, b = x[0], x[1], x[2]
    maxc, _ = x.max(dim=0)
    minc, _ = x.min(dim=0)
    grey = maxc == minc
    cr = maxc - minc
    ones = torch.ones_like(maxc)
    s = cr / torch.where(grey, ones, maxc)
    crd = torch.where(grey, ones, cr)
    rc, gc, bc = (maxc - r) / crd, (maxc - g) / crd, (maxc - b) / crd
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    h = torch.remainder((hr + hg + hb) / 6.0 + shift + 2.0, 1.0)
    v = maxc
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.to(torch.int64) % 6
    p = (v * (1 - s)).clamp(0, 1)
    q = (v * (1 - s * f)).clamp(0, 1)
    t = (v * (1 - s * (1 - f))).clamp(0, 1)
    mask = i.unsqueeze(0) == torch.arange(6).view(-1, 1, 1)
    a1 = torch.stack((v, q, p, p, t, v))
    a2 = torch.stack((t, v, v, q, p, p))
    a3 = torch.stack((p, p, t, v, v, q))
    return torch.stack([(mask * a).sum(0) for a in (a1, a2, a3)])


def apply_jitter(x, order, factors):
    """Brightness, contrast, saturation, hue in `order`, each clipped to [0, 1] (torchvision's tensor formulas)."""
    for op in order:
        f = factors[op]
        if op == 0:
            x = (x * f).clamp(0, 1)
        elif op == 1:
            x = (f * x + (1 - f) * luma(x).mean()).clamp(0, 1)
        elif op == 2:
            x = (f * x + (1 - f) * luma(x)).clamp(0, 1)
        elif f != 0:
            x = adjust_hue(x, f)
    return x


def augment_view(images, aug, generator):
    """One view of every image of a [N, 3, H, W] batch in [0, 1]; the engine's order of random draws per image."""
    n, _, height, width = images.shape
    draws = iter(torch.rand(n * 64, generator=generator, dtype=torch.float64).tolist())
    rand = lambda: next(draws)
    out = torch.empty_like(images)
    for i in range(n):
        crop = aug["crop"]
        box = sample_crop(height, width, crop["scale"], crop["ratio"], rand) if crop else (0, 0, height, width)
        flip = rand() < aug["flip"]
        x = resize_crop(images[i], box, flip, height, width)
        jitter = aug["jitter"]
        if jitter:
            apply = rand() < jitter["p"]
            order = list(range(4))
            for j in range(3, 0, -1):  # Fisher-Yates, as the engine's Rng.permutation
                k = int(rand() * (j + 1))
                order[j], order[k] = order[k], order[j]
            factor = lambda s: max(0.0, 1 - s) + (1 + s - max(0.0, 1 - s)) * rand()
            factors = [factor(jitter["brightness"]), factor(jitter["contrast"]), factor(jitter["saturation"])]
            factors.append(-jitter["hue"] + 2 * jitter["hue"] * rand())
            if apply:
                x = apply_jitter(x, order, factors)
        if rand() < aug["grayscale"]:
            x = luma(x).expand(3, -1, -1)
        out[i] = x
    return out


# ---- loss, optimizer, schedule, kNN -------------------------------------------------------------------------


def ntxent(z1, z2, tau):
    """NT-Xent (src/losses/ntxent.ts, V = 2): mean over the 2N anchors of LSE_{k != i}(z_i.z_k / tau) - z_i.z_p(i) / tau."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    logits = (z @ z.t() / tau).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return (torch.logsumexp(logits, dim=1) - logits[torch.arange(2 * n), partner]).mean()


def make_optimizer(net, opt, decay):
    """The engine's optimizers (src/engine/optim.ts); weight decay on kernels (rank >= 2) unless decay == 'all'."""
    params = [p for p in net.parameters() if p.requires_grad]
    decayed = [p for p in params if decay == "all" or p.dim() >= 2]
    rest = [p for p in params if not (decay == "all" or p.dim() >= 2)]
    groups = [{"params": decayed, "weight_decay": opt["weightDecay"]}, {"params": rest, "weight_decay": 0.0}]
    betas = (opt["beta1"], opt["beta2"])
    if opt["type"] == "adam":
        return torch.optim.Adam(groups, lr=opt["lr"], betas=betas, eps=opt["eps"])
    if opt["type"] == "adamw":
        return torch.optim.AdamW(groups, lr=opt["lr"], betas=betas, eps=opt["eps"])
    if opt["type"] == "sgd":
        return torch.optim.SGD(groups, lr=opt["lr"], momentum=opt["momentum"])
    raise SystemExit(f"optimizer.type {opt['type']!r}: this reference has adam, adamw and sgd")


def learning_rate(base, schedule, step, total, per_epoch):
    """src/engine/optim.ts learningRate: linear warm-up, then constant or cosine to base * minLrFactor."""
    warmup = round(schedule["warmupEpochs"] * per_epoch)
    if step < warmup:
        return base * (step + 1) / warmup
    if schedule["type"] == "constant":
        return base
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    low = base * schedule["minLrFactor"]
    return low + (base - low) * (1 + math.cos(math.pi * progress)) / 2


@torch.no_grad()
def embed(net, images, prepare, chunk=500):
    net.eval()
    out = [net(prepare(images[s : s + chunk]))[0].cpu() for s in range(0, images.shape[0], chunk)]
    net.train()
    return torch.cat(out)


@torch.no_grad()
def knn_top1(bank, bank_labels, queries, labels, k, temperature, classes=10, chunk=1000):
    """Weighted kNN (src/metrics/knn.ts): cosine top-k, votes exp(cos / T), argmax; accuracy in [0, 1]."""
    bank = F.normalize(bank, dim=1)
    queries = F.normalize(queries, dim=1)
    k = min(k, bank.shape[0])
    correct = 0
    for s in range(0, queries.shape[0], chunk):
        values, indices = (queries[s : s + chunk] @ bank.t()).topk(k, dim=1)
        votes = torch.zeros(values.shape[0], classes).scatter_add_(1, bank_labels[indices], (values / temperature).exp())
        correct += (votes.argmax(1) == labels[s : s + chunk]).sum().item()
    return correct / queries.shape[0]


# ---- training -----------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="a complete RunConfig JSON (npm run parity writes one)")
    parser.add_argument("--data-dir", required=True, help="folder with data_batch_*.bin and test_batch.bin")
    parser.add_argument("--epochs", type=float, help="override config.epochs")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--device", default="cpu",
                        help="torch device: cpu (default) or cuda; on cuda TF32 is off (fp32 eager) unless --allow-tf32")
    parser.add_argument("--allow-tf32", action="store_true", help="let cuda matmuls and convolutions use TF32")
    parser.add_argument("--decay", choices=["kernels", "all"], default="kernels",
                        help="weight decay on kernels only (the engine) or on every parameter (torch.optim defaults)")
    args = parser.parse_args()
    with open(args.config) as f:
        config = json.load(f)
    for field in ("nn", "optimizer", "schedule", "eval", "augment", "dataset"):
        if field not in config:
            raise SystemExit(f"{args.config}: no '{field}': pass a complete RunConfig (npm run parity writes one)")
    if config["dataset"]["id"] != "cifar10":
        raise SystemExit(f"dataset.id {config['dataset']['id']!r}: this reference reads CIFAR-10 only")
    if config["loss"]["id"] != "ntxent" or config["views"]["large"] != 2 or config["views"]["small"] != 0:
        raise SystemExit("this reference trains NT-Xent with two large views only (loss.id 'ntxent', views 2 + 0)")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: this torch sees no CUDA device; use --device cpu")
        torch.backends.cuda.matmul.allow_tf32 = args.allow_tf32
        torch.backends.cudnn.allow_tf32 = args.allow_tf32
    seed = config["seed"]
    torch.manual_seed(seed)
    (train_x, train_y), (test_x, test_y) = load_cifar(args.data_dir)
    limit = config["dataset"]["trainLimit"]
    count = min(limit, len(train_x)) if limit > 0 else len(train_x)
    batch = config["batchSize"]
    per_epoch = config["stepsPerEpoch"] or max(1, count // batch)
    epochs = args.epochs if args.epochs is not None else config["epochs"]
    total = max(1, math.ceil(epochs * per_epoch))

    mean, std = channel_statistics(train_x, count)
    standardize = config["dataset"]["standardize"] == "channel"
    to_float = lambda u8: torch.from_numpy(u8).permute(0, 3, 1, 2).float().div(255)
    # augmentations draw on the CPU (the seeded generator), the network runs on the device
    mean, std = mean.to(device), std.to(device)
    normalize = (lambda x: (x.to(device) - mean) / std) if standardize else (lambda x: x.to(device))
    bank_n = min(config["eval"]["bankSize"], count)
    eval_n = min(config["eval"]["size"], len(test_x))
    bank_images, query_images = to_float(train_x[:bank_n]), to_float(test_x[:eval_n])
    bank_labels, query_labels = torch.from_numpy(train_y[:bank_n]), torch.from_numpy(test_y[:eval_n])

    net = Network(config)
    if config["nn"]["init"] == "tfjs":
        init_tfjs_(net, torch.Generator().manual_seed(seed))
    net = net.to(device)
    optimizer = make_optimizer(net, config["optimizer"], args.decay)
    tau = config["loss"]["params"].get("tau", 0.5)
    per_view = config["nn"]["batchNormViews"] == "per-view"
    aug_generator = torch.Generator().manual_seed(seed + 1)
    started = time.time()

    def report(step, losses):
        knn = knn_top1(embed(net, bank_images, normalize), bank_labels, embed(net, query_images, normalize), query_labels,
                       config["eval"]["knnK"], config["eval"]["knnTemperature"])
        print(json.dumps({"epoch": step / per_epoch, "step": step, "knn": knn,
                          "loss_mean": sum(losses) / len(losses) if losses else None,
                          "loss_last": losses[-1] if losses else None,
                          "seconds": round(time.time() - started, 1)}), flush=True)

    report(0, [])
    step, order, losses = 0, None, []
    net.train()
    while step < total:
        epoch, index = divmod(step, per_epoch)
        if index == 0:
            order = torch.randperm(count, generator=torch.Generator().manual_seed(seed * 1000 + epoch))
            losses = []
        images = to_float(train_x[order[index * batch : (index + 1) * batch].numpy()])
        views = [normalize(augment_view(images, config["augment"], aug_generator)) for _ in range(2)]
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config["optimizer"]["lr"], config["schedule"], step, total, per_epoch)
        if per_view:
            z1, z2 = net(views[0])[1], net(views[1])[1]
        else:
            z = net(torch.cat(views))[1]
            z1, z2 = z[:batch], z[batch:]
        loss = ntxent(z1, z2, tau)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        step += 1
        if step % per_epoch == 0 or step == total:
            report(step, losses)
    print(json.dumps({"done": True, "steps": step, "seconds": round(time.time() - started, 1)}), flush=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
