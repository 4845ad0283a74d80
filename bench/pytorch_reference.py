#!/usr/bin/env python3
"""PyTorch reference for the benchmark workloads W1-W3 of `npm run bench` (see bench/workloads.ts).

The same computation as the TypeScript engine, in PyTorch on the CPU (default) or a CUDA GPU (--device cuda):

  W1  train step, CIFAR ResNet-18 (3x3 stem, no max-pool, BasicBlocks [2, 2, 2, 2], widths 64-512),
      batch 256 x 2 views 32x32, projector Linear(F, 512) -> BN -> ReLU -> Linear(512, 128), NT-Xent (tau 0.5),
      AdamW (lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay 1e-6)
  W2  the same with the playground default 'resnet-small' (widths [32, 64, 128], one block per stage)
  W3  NT-Xent forward + backward alone on Z = [512, 128] (2 views x 256)

A train step includes what the engine's step includes: the batch upload (uint8 -> float), the augmentations
on the batch tensor (random resized crop by bilinear resampling, flip, colour jitter, grayscale; per image),
per-channel standardisation, both views through the network in one batch (BatchNorm sees 2 x batch), the
loss, backward, the optimizer step and reading the loss value. --no-augment drops the augmentations.

On a GPU the step is eager fp32: TF32 is off for convolutions and matrix products (PyTorch's own default
lets cuDNN convolutions use TF32; --allow-tf32 turns it on for both), no torch.compile, no AMP, no CUDA graphs.
The pixels are uploaded from host memory every step, as the engine uploads its batch.

Prints one JSON object: {"machine", "device", "torch", "threads", "load_average", "results": [{workload, batch,
ms_per_iteration, cpu_ms_per_iteration, throughput, unit, repeats_ms}]}. Debian's python3-torch: run with
/usr/bin/python3.

Usage: /usr/bin/python3 bench/pytorch_reference.py [--quick] [--workload W1,W2,W3] [--threads N]
       [--steps N] [--repeats N] [--warmup N] [--batch N] [--no-augment] [--device cpu|cuda] [--allow-tf32]
"""

import argparse
import json
import math
import os
import platform
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# Same sizes as bench/workloads.ts (full / --quick): batch, warm-up iterations, timed repeats, iterations per repeat.
SIZES = {
    "W1": {"full": (256, 1, 3, 2), "quick": (2, 1, 2, 1)},
    "W2": {"full": (256, 2, 3, 3), "quick": (4, 1, 2, 1)},
    "W3": {"full": (256, 3, 5, 10), "quick": (32, 1, 2, 2)},
}
ENCODERS = {"W1": ([64, 128, 256, 512], [2, 2, 2, 2]), "W2": ([32, 64, 128], [1, 1, 1])}
TAU = 0.5


class BasicBlock(nn.Module):
    """y = BN(Conv3x3(ReLU(BN(Conv3x3_stride(x))))); out = ReLU(y + shortcut), shortcut = BN(Conv1x1_stride(x)) on a shape change."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)  # torch momentum 0.1 == tfjs momentum 0.9
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class CifarResNet(nn.Module):
    """src/engine/encoders/resnet.ts: 3x3 stride-1 stem, no max-pool, stage s > 0 starts with stride 2, global average pool."""

    def __init__(self, widths, blocks, in_channels=3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        layers, cin = [], widths[0]
        for s, (width, count) in enumerate(zip(widths, blocks)):
            for b in range(count):
                layers.append(BasicBlock(cin, width, 2 if s > 0 and b == 0 else 1))
                cin = width
        self.blocks = nn.Sequential(*layers)
        self.features = cin
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        return self.blocks(self.stem(x)).mean(dim=(2, 3))


class Network(nn.Module):
    """Backbone + projector {layers 2, hidden 512, out 128, batchNorm} (the RunConfig default, projector.ts)."""

    def __init__(self, widths, blocks):
        super().__init__()
        self.backbone = CifarResNet(widths, blocks)
        self.projector = nn.Sequential(nn.Linear(self.backbone.features, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, 128))

    def forward(self, x):
        h = self.backbone(x)
        return h, self.projector(h)


def ntxent(z1, z2, tau=TAU):
    """l_i = -Z_i.Z_p(i)/tau + LSE_{k != i}(Z_i.Z_k/tau), L = mean over the 2N anchors (src/losses/ntxent.ts, V = 2)."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    logits = z @ z.t() / tau
    device = z.device
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=device), -1e9)
    partner = torch.cat([torch.arange(n, 2 * n, device=device), torch.arange(0, n, device=device)])
    return (torch.logsumexp(logits, dim=1) - logits[torch.arange(2 * n, device=device), partner]).mean()


def augment(images, generator):
    """Per-image random resized crop (scale 0.08-1, ratio 3/4-4/3, bilinear) + flip (p 0.5), colour jitter
    (brightness/contrast/saturation 0.4, hue 0.1, p 0.8) and grayscale (p 0.2): src/engine/augment.ts's defaults."""
    n, _, height, width = images.shape
    device = images.device
    rand = lambda *shape: torch.rand(*shape, generator=generator, device=device)
    area = 0.08 + 0.92 * rand(n)
    log_ratio = math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * rand(n)
    ratio = torch.exp(log_ratio)
    crop_w = torch.sqrt(area * ratio).clamp(max=1.0)
    crop_h = torch.sqrt(area / ratio).clamp(max=1.0)
    centre_x = (1 - crop_w) * (2 * rand(n) - 1)
    centre_y = (1 - crop_h) * (2 * rand(n) - 1)
    flip = torch.where(rand(n) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0] = crop_w * flip
    theta[:, 0, 2] = centre_x
    theta[:, 1, 1] = crop_h
    theta[:, 1, 2] = centre_y
    grid = F.affine_grid(theta, [n, 3, height, width], align_corners=False)
    x = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)

    jitter = (rand(n, 1, 1, 1) < 0.8).float()
    gray = lambda t: (0.299 * t[:, 0:1] + 0.587 * t[:, 1:2] + 0.114 * t[:, 2:3])
    brightness = 1 + 0.4 * (2 * rand(n, 1, 1, 1) - 1)
    contrast = 1 + 0.4 * (2 * rand(n, 1, 1, 1) - 1)
    saturation = 1 + 0.4 * (2 * rand(n, 1, 1, 1) - 1)
    y = (x * brightness).clamp(0, 1)
    mean = gray(y).mean(dim=(2, 3), keepdim=True)
    y = ((y - mean) * contrast + mean).clamp(0, 1)
    y = ((y - gray(y)) * saturation + gray(y)).clamp(0, 1)
    # hue: rotate the chroma plane in YIQ space by up to +-0.1 turn
    angle = 2 * math.pi * 0.1 * (2 * rand(n) - 1)
    yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], device=device)
    rgb = torch.linalg.inv(yiq)
    rot = torch.zeros(n, 3, 3, device=device)
    rot[:, 0, 0] = 1
    rot[:, 1, 1] = torch.cos(angle)
    rot[:, 1, 2] = -torch.sin(angle)
    rot[:, 2, 1] = torch.sin(angle)
    rot[:, 2, 2] = torch.cos(angle)
    transform = rgb @ rot @ yiq
    y = torch.einsum("nij,njhw->nihw", transform, y).clamp(0, 1)
    x = jitter * y + (1 - jitter) * x
    to_gray = (rand(n, 1, 1, 1) < 0.2).float()
    return to_gray * gray(x).expand_as(x) + (1 - to_gray) * x


def train_step_iteration(workload, batch, use_augment, device):
    widths, blocks = ENCODERS[workload]
    net = Network(widths, blocks).to(device=device, memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-6)
    pixels = torch.randint(0, 256, (batch, 32, 32, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    generator = torch.Generator(device=device).manual_seed(0)
    mean = torch.tensor([0.5, 0.5, 0.5], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.25, 0.25, 0.25], device=device).view(1, 3, 1, 1)
    net.train()

    def run():
        # the batch upload: host uint8 pixels to the device every step, as the engine does
        images = pixels.to(device).permute(0, 3, 1, 2).float().div(255)
        views = [augment(images, generator) if use_augment else images for _ in range(2)]
        x = ((torch.cat(views) - mean) / std).contiguous(memory_format=torch.channels_last)
        _, z = net(x)
        loss = ntxent(z[:batch], z[batch:])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    return run


def ntxent_iteration(batch, device):
    generator = torch.Generator().manual_seed(1)
    a = torch.randn(batch, 128, generator=generator).to(device).requires_grad_()
    b = torch.randn(batch, 128, generator=generator).to(device).requires_grad_()

    def run():
        a.grad = b.grad = None
        loss = ntxent(a, b)
        loss.backward()
        return loss.item()

    return run


def measure(workload, batch, warmup, repeats, steps, use_augment, device):
    # every iteration ends in loss.item(), which waits for the device: host clocks time the whole step
    run = ntxent_iteration(batch, device) if workload == "W3" else train_step_iteration(workload, batch, use_augment, device)
    for _ in range(warmup):
        run()
    repeats_ms, repeats_cpu_ms = [], []
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        for _ in range(steps):
            run()
        repeats_ms.append((time.perf_counter() - started) * 1000 / steps)
        repeats_cpu_ms.append((time.process_time() - cpu_started) * 1000 / steps)
    ms = statistics.median(repeats_ms)
    return {
        "workload": workload,
        "batch": batch,
        "ms_per_iteration": ms,
        # process CPU time, all threads: on a shared machine wall time also counts waiting for a core
        "cpu_ms_per_iteration": statistics.median(repeats_cpu_ms),
        "throughput": batch * 1000 / ms,
        "unit": "instances/s" if workload == "W3" else "images/s",
        "repeats_ms": repeats_ms,
        "augment": use_augment if workload != "W3" else None,
    }


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI-sized batches and repeats")
    parser.add_argument("--workload", default="W1,W2,W3", help="comma list of W1, W2, W3")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch intra-op threads (default: all cores)")
    parser.add_argument("--steps", type=int, help="timed iterations per repeat")
    parser.add_argument("--repeats", type=int, help="timed repeats (the median is reported)")
    parser.add_argument("--warmup", type=int, help="untimed iterations first")
    parser.add_argument("--batch", type=int, help="override the batch")
    parser.add_argument("--no-augment", action="store_true", help="time the model step without the augmentations")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the step runs (default cpu)")
    parser.add_argument("--allow-tf32", action="store_true", help="cuda: let convolutions and matrix products use TF32 (default: strict fp32)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: this PyTorch sees no CUDA GPU (torch.cuda.is_available() is False); run on a GPU machine or use --device cpu")
    torch.backends.cudnn.allow_tf32 = args.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = args.allow_tf32
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = []
    for workload in [w.strip() for w in args.workload.split(",") if w.strip()]:
        if workload not in SIZES:
            parser.error(f"unknown workload {workload!r}; use W1, W2 or W3")
        batch, warmup, repeats, steps = SIZES[workload]["quick" if args.quick else "full"]
        batch = args.batch or batch
        warmup = warmup if args.warmup is None else args.warmup
        repeats = args.repeats or repeats
        steps = args.steps or steps
        results.append(measure(workload, batch, warmup, repeats, steps, not args.no_augment, torch.device(args.device)))
    print(json.dumps({
        "machine": f"{os.cpu_count()} x {cpu_model()}",
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "tf32": args.allow_tf32 if args.device == "cuda" else None,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
