#!/usr/bin/env python3
"""Continues or restarts a playground run in PyTorch: one process, or one per GPU / CPU under torchrun (DDP).

    python train.py --config run.json [--resume model.safetensors] [--max-steps N] [--out DIR] [--data-dir DIR]
    torchrun --nproc_per_node N train.py --config run.json ...

The RunConfig (run.json) is the only configuration: dataset, encoder, projector, loss, augmentations, views, batch
size (the global batch, split evenly over the processes), epochs, optimizer, schedule and seed mean what they mean
in the playground. Training follows the playground's trainer (src/engine/trainer.ts): a seeded permutation of the
training images per pass, drop-last batches, the views of the batch through the encoder in one forward pass per
view size (per view with nn.batchNormViews 'per-view'), the loss, the optimizer step with the learning rate of the schedule;
before a step, an objective that trains in stages (mcl) may change stage, clustering the features of the training set.

Distributed: every rank draws the augmentations of the whole global batch and applies those of its own images;
BatchNorm statistics cover the global batch; projections, features and labels are all-gathered (with gradient)
so the loss, and the negatives of the contrastive losses, span every rank; DDP averages the gradients. N processes
with batch B therefore follow the same loss curve as one process with batch B, up to float rounding.

--resume takes the playground's model.safetensors (or checkpoint.safetensors): the weights, the step they were
trained for and the input standardisation they were trained with; the optimizer moments and the method's own state
(queues, target networks, predictors) start afresh. It also takes this script's checkpoint.pt, which restores
everything. Without --resume the run restarts from PyTorch-initialised weights.

Writes to --out: metrics.jsonl (one JSON line per step), config.json, checkpoint.pt (every checkpointEvery steps and
at the end), and model.safetensors in the playground's export format (its "import weights" loads it).
"""

import argparse
import json
import math
import os
import time

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data.distributed import DistributedSampler

import augment
import data
import distributed
import methods
import model
import safetensors_io
from config import ConfigError, load_run_config, loss_id_inputs

CHECKPOINT_FORMAT = "contrastive-playground-pytorch-checkpoint"
STREAM = {"data": 1, "augment": 2, "eval_augment": 3, "init": 4, "loss": 5}  # the trainer's random streams
MASK32 = 0xFFFFFFFF


def derived_seed(seed, purpose, index):
    """The trainer's derivedSeed: (seed, purpose, index) mixed into 31 bits."""
    x = (seed ^ ((purpose * 0x9E3779B1) & MASK32) ^ (((index + 1) * 0x85EBCA6B) & MASK32)) & MASK32
    x = ((x ^ (x >> 16)) * 0x7FEB352D) & MASK32
    x = ((x ^ (x >> 15)) * 0x846CA68B) & MASK32
    return (x ^ (x >> 16)) & 0x7FFFFFFF


def learning_rate(base_lr, schedule, step, total_steps, steps_per_epoch):
    """Linear warm-up from lr / warmupSteps to lr, then cosine decay to lr * minLrFactor at the last step (or constant)."""
    warmup_steps = round(schedule["warmupEpochs"] * steps_per_epoch)
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if schedule["type"] == "constant":
        return base_lr
    progress = min(1, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    min_lr = base_lr * schedule["minLrFactor"]
    return min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * progress)) / 2


class Lars(torch.optim.Optimizer):
    """LARS (You et al. 2017) as the playground's: g' = g + wd w, trust = eta ||w|| / ||g'|| for weight matrices
    (1 when either norm is 0, and for biases and BatchNorm parameters), v = mu v + lr trust g', w -= v."""

    def __init__(self, params, lr, momentum, trust_coefficient):
        super().__init__(params, {"lr": lr, "momentum": momentum, "trust_coefficient": trust_coefficient, "weight_decay": 0})

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for w in group["params"]:
                if w.grad is None:
                    continue
                g = w.grad + group["weight_decay"] * w if group["weight_decay"] > 0 else w.grad
                scaled_lr = group["lr"]
                if w.dim() >= 2:
                    w_norm, g_norm = torch.linalg.norm(w), torch.linalg.norm(g)
                    trust = torch.where((w_norm > 0) & (g_norm > 0), group["trust_coefficient"] * w_norm / g_norm, torch.ones_like(w_norm))
                    scaled_lr = trust * group["lr"]
                state = self.state[w]
                v = state.setdefault("v", torch.zeros_like(w))
                v.mul_(group["momentum"]).add_(g * scaled_lr)
                w.sub_(v)


def make_optimizer(module, spec):
    """The run's optimizer; weight decay (and LARS's trust ratio) only for weight matrices and kernels, as in SimCLR."""
    trainable = [p for p in module.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trainable if p.dim() >= 2], "weight_decay": spec["weightDecay"]},
        {"params": [p for p in trainable if p.dim() < 2], "weight_decay": 0.0},
    ]
    lr, betas, eps = spec["lr"], (spec["beta1"], spec["beta2"]), spec["eps"]
    if spec["type"] == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=spec["momentum"])
    if spec["type"] == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=betas, eps=eps)  # L2: wd w added to the gradient
    if spec["type"] == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)  # decoupled: w -= lr wd w
    return Lars(groups, lr=lr, momentum=spec["momentum"], trust_coefficient=spec["trustCoefficient"])


def encode_views(encoder, views, per_view=False):
    """(h, z) of every view; views of the same size go through the encoder together, so BatchNorm sees them as one
    batch (RunConfig nn.batchNormViews 'joint'), or each view alone (per_view, nn.batchNormViews 'per-view')."""
    h, z = [None] * len(views), [None] * len(views)
    groups = {}
    for i, view in enumerate(views):
        groups.setdefault(i if per_view else tuple(view.shape[2:]), []).append(i)
    for members in groups.values():
        hs, zs = encoder(torch.cat([views[i] for i in members]))
        for i, hi, zi in zip(members, hs.chunk(len(members)), zs.chunk(len(members))):
            h[i], z[i] = hi, zi
    return h, z


class TrainStep(nn.Module):
    """One training step's forward pass: this rank's views -> the loss over the global batch (what DDP wraps)."""

    def __init__(self, encoder, objective, per_view=False):
        super().__init__()
        self.encoder, self.objective, self.per_view = encoder, objective, per_view

    def forward(self, views, labels, step=0, targets=None, indices=None, geometry=None):
        maps = None
        if self.objective.uses_maps:
            # pixpro: both views (of one size) in one pass, as the playground runs them, with the maps before pooling
            spatial, hs, zs = self.encoder.forward_spatial(torch.cat(views))
            maps, h, z = (list(t.chunk(len(views))) for t in (spatial, hs, zs))
        else:
            h, z = encode_views(self.encoder, views, self.per_view)
        gather = distributed.gather_batch
        features = [gather(v) for v in h] if self.objective.uses_features else None
        targets = None if targets is None else gather(targets)
        indices = None if indices is None else gather(indices)
        return self.objective(methods.Batch(
            [gather(v) for v in z], features, gather(labels), views, step, targets, indices, maps, geometry,
        ))


def preprocessing_metadata(image_shape, mean, std):
    """The input contract of the playground's exports (safetensors __metadata__.preprocessing)."""
    return {
        "input": "pixels NHWC", "value_range": [0, 255], "image_size": list(image_shape[:2]), "channels": image_shape[2],
        "scale": 1 / 255, "mean": list(mean), "std": list(std),
        "formula": "x[..., c] = (pixels[..., c] / 255 - mean[c]) / std[c]",
    }


def save_export(path, encoder, config, preprocessing, step):
    """model.safetensors in the playground's layout and metadata, so its "import weights" loads it."""
    safetensors_io.save(path, model.tfjs_state(model.encoder_tfjs_tensors(encoder)), {
        "format": model.MODEL_FORMAT,
        "run_config": json.dumps(config),
        "preprocessing": json.dumps(preprocessing),
        "weight_layout": "tfjs: conv kernel [kh, kw, in, out], dense kernel [in, out]",
        "step": str(step),
    })


def architecture(config):
    """What decides tensor shapes: a checkpoint only continues a run that agrees on it."""
    return {
        "dataset": config["dataset"]["id"], "encoder": config["encoder"], "projector": config["projector"],
        "loss": config["loss"]["id"], "optimizer": config["optimizer"]["type"],
    }


def read_resume(path):
    """(encoder tensors or None, torch checkpoint or None, step, preprocessing dict or None) from --resume."""
    if path.endswith(".pt"):
        checkpoint = torch.load(path, map_location="cpu")
        if checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise SystemExit(f"--resume {path}: not a checkpoint written by train.py")
        return None, checkpoint, checkpoint["step"], checkpoint["preprocessing"]
    try:
        tensors, metadata = safetensors_io.load(path)
    except (OSError, ValueError) as error:
        raise SystemExit(f"--resume {path}: {error}") from error
    # a playground checkpoint.safetensors has no preprocessing: it is measured on the dataset, as the playground does
    preprocessing = json.loads(metadata["preprocessing"]) if "preprocessing" in metadata else None
    return model.encoder_weights_from_file(tensors), None, int(metadata.get("step", 0)), preprocessing


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the RunConfig JSON (run.json)")
    parser.add_argument("--resume", help="model.safetensors / checkpoint.safetensors from the playground, or checkpoint.pt from this script")
    parser.add_argument("--max-steps", type=int, help="stop after this many steps (the schedule still spans the whole run)")
    parser.add_argument("--out", default="out", help="output folder (default: out)")
    parser.add_argument("--data-dir", help="the dataset's files (default: data/<dataset id>); not needed for 'synthetic'")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when a GPU is visible")
    args = parser.parse_args()

    try:
        config = load_run_config(args.config)
    except ConfigError as error:
        raise SystemExit(str(error)) from None
    device = distributed.setup(args.device)
    world, rank = distributed.world_size(), distributed.rank()
    batch_size, seed = config["batchSize"], config["seed"]
    if batch_size % world:
        raise SystemExit(f"batchSize {batch_size} does not split over {world} processes; use a multiple of {world}")
    local_batch = batch_size // world

    dataset = data.open_dataset(config, args.data_dir or os.path.join("data", config["dataset"]["id"]))
    # dataset.target: rotated images and their angles, or the shapes' size, as the playground makes them
    dataset = data.apply_target(dataset, config["dataset"], seed)
    limit = config["dataset"]["trainLimit"]
    train_count = min(limit, len(dataset.train)) if limit > 0 else len(dataset.train)
    if train_count < batch_size:
        raise SystemExit(f"batchSize {batch_size} is larger than the {train_count} training images; lower batchSize or raise dataset.trainLimit")
    train = dataset.train.limited(train_count)
    steps_per_epoch = config["stepsPerEpoch"] or max(1, train_count // batch_size)
    total_steps = max(1, math.ceil(config["epochs"] * steps_per_epoch))

    weights, checkpoint, start_step, preprocessing = read_resume(args.resume) if args.resume else (None, None, 0, None)
    if checkpoint is not None and architecture(checkpoint["config"]) != architecture(config):
        raise SystemExit(f"--resume {args.resume} was made for a different run ({architecture(checkpoint['config'])}); this run is {architecture(config)}")
    if preprocessing is None:
        if config["dataset"]["standardize"] == "none":  # the [0, 1] pixels as they are
            channels = dataset.image_shape[2]
            mean, std = [0.0] * channels, [1.0] * channels
        else:
            mean, std = data.channel_statistics(train, train_count)
        preprocessing = preprocessing_metadata(dataset.image_shape, mean, std)
    trained_on = (*preprocessing["image_size"], preprocessing["channels"])
    if trained_on != dataset.image_shape:
        raise SystemExit(f"the weights were trained on {trained_on} images (height, width, channels), the dataset's are {dataset.image_shape}; pass the run's dataset with --data-dir")
    mean, std = preprocessing["mean"], preprocessing["std"]

    torch.manual_seed(derived_seed(seed, STREAM["init"], 0))
    encoder = model.build_encoder(config, dataset.image_shape)
    if weights is not None:
        model.load_tfjs_weights(model.encoder_tfjs_tensors(encoder), weights, args.resume)
    objective = methods.build_objective(
        config, encoder, seed=derived_seed(seed, STREAM["loss"], 0), num_classes=len(dataset.classes),
        steps_per_epoch=steps_per_epoch, start_step=start_step, total_steps=total_steps, train_count=train_count,
        image_shape=dataset.image_shape,
    )
    clean = loss_id_inputs(config["loss"]["id"]) == "clean"
    step_module = TrainStep(encoder, objective, per_view=config["nn"]["batchNormViews"] == "per-view").to(device)
    optimizer = make_optimizer(step_module, config["optimizer"])
    if checkpoint is not None:
        step_module.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
    trainer = step_module
    if distributed.is_distributed():
        # BatchNorm statistics are already global (model.BatchNorm), so the buffers need no broadcast;
        # amcl trains its own heads on the features and leaves the projector without a gradient, as pixpro
        # does with alpha 0
        trainer = DistributedDataParallel(
            step_module, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False,
            find_unused_parameters=config["loss"]["id"] in ("amcl", "pixpro"),
        )

    sampler = DistributedSampler(range(train_count), num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
    batches_per_pass = train_count // batch_size
    positions = torch.arange(local_batch) * world + rank  # this rank's places in the global batch
    channel_mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    channel_std = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    end_step = total_steps if args.max_steps is None else min(total_steps, start_step + args.max_steps)
    if start_step >= total_steps and rank == 0:
        print(f"the weights are at step {start_step}, the run's last ({total_steps}); raise epochs in the RunConfig to train longer")

    if rank == 0:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
        # a resumed run adds to the curve it continues; a fresh one starts its own
        metrics = open(os.path.join(args.out, "metrics.jsonl"), "a" if args.resume else "w")
        print(f"{dataset.name}: {train_count} training images {dataset.image_shape}; {world} process(es) on {device}, "
              f"{local_batch} images each; steps {start_step}..{end_step} of {total_steps} ({steps_per_epoch} per epoch)", flush=True)

    def save(step):
        if rank != 0:
            return
        torch.save({
            "format": CHECKPOINT_FORMAT, "config": config, "step": step, "preprocessing": preprocessing,
            "model": step_module.state_dict(), "optimizer": optimizer.state_dict(),
        }, os.path.join(args.out, "checkpoint.pt"))
        save_export(os.path.join(args.out, "model.safetensors"), encoder, config, preprocessing, step)

    @torch.no_grad()
    def embed_train():
        """The clean features h of the training images, standardised as in training, the encoder in inference mode."""
        encoder.eval()
        features = []
        for start in range(0, train_count, 512):
            images = train.images[start : min(start + 512, train_count)].to(device).permute(0, 3, 1, 2).float().div(255)
            features.append(encoder((images - channel_mean) / channel_std)[0])
        encoder.train()
        return torch.cat(features)

    def reset_optimizer():
        optimizer.state.clear()  # fresh moments and step counts, as the playground's resetOptimizer

    order, order_pass = None, None
    for step in range(start_step, end_step):
        if hasattr(objective, "at_step_boundary"):  # mcl changes stage here (the same on every rank)
            objective.at_step_boundary(step, total_steps, embed_train, reset_optimizer)
        started = time.perf_counter()
        data_pass, position = divmod(step, batches_per_pass)
        if data_pass != order_pass:
            sampler.set_epoch(data_pass)
            order, order_pass = torch.tensor(list(sampler)), data_pass
        indices = order[position * local_batch : (position + 1) * local_batch]
        images = train.images[indices].to(device).permute(0, 3, 1, 2).float().div(255)
        labels = train.labels[indices].to(device)
        targets = None if train.targets is None else train.targets[indices].to(device)
        generator = torch.Generator().manual_seed(derived_seed(seed, STREAM["augment"], step))
        geometry = None
        if clean:  # cmim trains on the images themselves: no augmentation
            views = [images]
        elif objective.uses_maps:  # pixpro pairs the views' pixels by their crop boxes
            views, geometry = augment.make_views_with_geometry(images, config["augment"], config["views"], generator, positions, batch_size)
        else:
            views = augment.make_views(images, config["augment"], config["views"], generator, positions, batch_size)
        views = [(v - channel_mean) / channel_std for v in views]
        lr = learning_rate(config["optimizer"]["lr"], config["schedule"], step, total_steps, steps_per_epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr

        loss = trainer(views, labels, step, targets, indices.to(device), geometry)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        objective.before_optimizer_step()
        optimizer.step()
        objective.after_step(step + 1, total_steps, encoder)
        value = loss.item()
        if not math.isfinite(value):
            raise SystemExit(f"the loss became {value} at step {step + 1}; lower optimizer.lr, raise the temperature, or add warm-up (schedule.warmupEpochs)")
        if rank == 0:
            seconds = time.perf_counter() - started
            event = {"type": "step", "step": step + 1, "epoch": (step + 1) / steps_per_epoch, "loss": value, "lr": lr,
                     "imagesPerSecond": batch_size / max(seconds, 1e-9)}
            if hasattr(objective, "stage"):  # the stage this step trained in, for objectives that train in stages
                event["stage"] = objective.stage()
            metrics.write(json.dumps(event) + "\n")
            metrics.flush()
            if (step + 1) % max(1, steps_per_epoch // 10) == 0 or step + 1 == end_step:
                print(f"step {step + 1}/{total_steps}  loss {value:.4f}  lr {lr:.3g}  {event['imagesPerSecond']:.0f} img/s", flush=True)
        every = config["checkpointEvery"]
        if every and (step + 1) % every == 0 and step + 1 != end_step:
            save(step + 1)
    save(end_step)
    if rank == 0:
        metrics.close()
        print(f"wrote {args.out}/metrics.jsonl, checkpoint.pt, model.safetensors (step {end_step})", flush=True)
    distributed.cleanup()


if __name__ == "__main__":
    main()
