"""Datasets as the playground reads them (src/engine/data/): uint8 pixels [N, H, W, C] and int64 labels.

open_dataset(config, data_dir) picks by what data_dir holds:
- CIFAR-10 binary version: data_batch_1.bin ... (any number), test_batch.bin, optional batches.meta.txt;
- idx files ((Fashion-)MNIST): {train,t10k}-{images-idx3,labels-idx1}-ubyte, each raw or .gz;
- an image folder: one sub-folder per class (or train/ and test/ folders of those), images scaled to 32x32 RGB
  (needs Pillow) and, without a test/ folder, every 10th image held out for testing, as the playground does;
and config.dataset.id 'synthetic' generates the playground's synthetic shapes from the seed (no files).
apply_target gives the splits of dataset.target (rotated images and their angles, or the shapes' size) and
channel_statistics the per-channel mean and std the trainer standardises with.
"""

import gzip
import math
import os
import re

import torch

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MNIST_CLASSES = [str(d) for d in range(10)]
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")


class Split:
    def __init__(self, images, labels, targets=None):
        # uint8 [N, H, W, C], int64 [N], and float32 [N] regression targets (dataset.target) or None
        self.images, self.labels, self.targets = images, labels, targets

    def __len__(self):
        return self.images.shape[0]

    def limited(self, count):
        """The first `count` images (config.dataset.trainLimit)."""
        return Split(self.images[:count], self.labels[:count], None if self.targets is None else self.targets[:count])


class Dataset:
    def __init__(self, name, classes, train, test):
        self.name, self.classes, self.train, self.test = name, classes, train, test
        self.image_shape = tuple(train.images.shape[1:])


def bytes_tensor(data):
    return torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else torch.empty(0, dtype=torch.uint8)


# ---- CIFAR-10 ----

def parse_cifar(data, name):
    """Records of 3073 bytes: the label, then the R, G, B planes of a 32x32 image."""
    if not data or len(data) % 3073:
        raise ValueError(f"{name} is {len(data)} bytes, not a multiple of 3073: truncated or not the CIFAR-10 binary version")
    records = bytes_tensor(data).view(-1, 3073)
    labels = records[:, 0].to(torch.int64)
    if int(labels.max()) >= 10:
        raise ValueError(f"{name} has label {int(labels.max())}; CIFAR-10 labels are 0-9 (CIFAR-100 is not supported)")
    return Split(records[:, 1:].reshape(-1, 3, 32, 32).permute(0, 2, 3, 1).contiguous(), labels)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def cifar10(data_dir):
    batches = sorted(
        (int(m.group(1)), name) for name in os.listdir(data_dir) if (m := re.fullmatch(r"data_batch_(\d+)\.bin", name))
    )
    if not batches:
        raise FileNotFoundError(f"no CIFAR-10 training batch (data_batch_1.bin ...) in {data_dir}")
    parts = [parse_cifar(read(os.path.join(data_dir, name)), name) for _, name in batches]
    train = Split(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]))
    test_path = os.path.join(data_dir, "test_batch.bin")
    if not os.path.exists(test_path):
        raise FileNotFoundError(f"{test_path} is missing; it is part of the CIFAR-10 binary version (cifar-10-binary.tar.gz)")
    classes = CIFAR10_CLASSES
    meta = os.path.join(data_dir, "batches.meta.txt")
    if os.path.exists(meta):
        with open(meta) as f:
            classes = [line.strip() for line in f if line.strip()]
    return Dataset("CIFAR-10", classes, train, parse_cifar(read(test_path), "test_batch.bin"))


# ---- idx ((Fashion-)MNIST) ----

def parse_idx(data, name):
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{name} is not an idx file of unsigned bytes (it must start with 00 00 08 <dims>)")
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * d : 8 + 4 * d], "big") for d in range(rank)]
    body = data[4 + 4 * rank :]
    if len(body) != math.prod(dims):
        raise ValueError(f"{name} is {len(data)} bytes but its header (dims {'x'.join(map(str, dims))}) needs {4 + 4 * rank + math.prod(dims)}")
    return bytes_tensor(body).view(*dims)


def read_idx(data_dir, base):
    for name in (f"{base}.gz", base):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return parse_idx(read(path), name)
    raise FileNotFoundError(f"{base}(.gz) is missing from {data_dir}")


def idx_dataset(data_dir, name, classes):
    splits = []
    for prefix in ("train", "t10k"):
        images = read_idx(data_dir, f"{prefix}-images-idx3-ubyte")
        labels = read_idx(data_dir, f"{prefix}-labels-idx1-ubyte").to(torch.int64)
        if images.dim() != 3 or labels.shape[0] != images.shape[0]:
            raise ValueError(f"{prefix}: images {list(images.shape)} and labels {list(labels.shape)} do not match (N x H x W images, N labels)")
        splits.append(Split(images.unsqueeze(3).contiguous(), labels))
    return Dataset(name, classes, *splits)


# ---- image folders ----

def load_image(path, side=32):
    try:
        from PIL import Image
    except ImportError as error:
        raise SystemExit("image folders need Pillow: pip install pillow (or apt install python3-pil)") from error
    with Image.open(path) as image:
        rgb = image.convert("RGB").resize((side, side), Image.BILINEAR)
        return bytes_tensor(rgb.tobytes()).view(side, side, 3)


def class_folders(root):
    return sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))


def folder_split(root, classes):
    images, labels = [], []
    for label, name in enumerate(classes):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue
        for file in sorted(os.listdir(folder)):
            if file.lower().endswith(IMAGE_EXTENSIONS):
                images.append(load_image(os.path.join(folder, file)))
                labels.append(label)
    if not images:
        raise ValueError(f"{root} has no images in class sub-folders")
    return Split(torch.stack(images), torch.tensor(labels, dtype=torch.int64))


def image_folder(data_dir):
    train_dir, test_dir = os.path.join(data_dir, "train"), os.path.join(data_dir, "test")
    if os.path.isdir(train_dir) and os.path.isdir(test_dir):
        classes = class_folders(train_dir)
        return Dataset(os.path.basename(data_dir), classes, folder_split(train_dir, classes), folder_split(test_dir, classes))
    classes = class_folders(data_dir)
    if len(classes) < 2:
        raise ValueError(f"{data_dir} needs at least 2 class sub-folders (e.g. pets/cat/1.png, pets/dog/2.png)")
    everything = folder_split(data_dir, classes)
    held_out = torch.arange(len(everything)) % 10 == 9  # every 10th image is a test image, as in the playground
    return Dataset(
        os.path.basename(data_dir), classes,
        Split(everything.images[~held_out], everything.labels[~held_out]),
        Split(everything.images[held_out], everything.labels[held_out]),
    )


# ---- the playground's synthetic shapes (src/engine/data/synthetic.ts), byte for byte ----

MASK32 = 0xFFFFFFFF


class Rng:
    """mulberry32, the playground's seeded generator (src/nn/random.ts)."""

    def __init__(self, seed):
        self.state = ((seed & MASK32) ^ 0x9E3779B9) & MASK32

    def next(self):
        self.state = (self.state + 0x6D2B79F5) & MASK32
        t = self.state
        t = ((t ^ (t >> 15)) * (t | 1)) & MASK32
        t ^= (t + (((t ^ (t >> 7)) * (t | 61)) & MASK32)) & MASK32
        return ((t ^ (t >> 14)) & MASK32) / 4294967296

    def uniform(self, lo, hi):
        return lo + (hi - lo) * self.next()

    def int(self, n):
        return math.floor(self.next() * n)

    def normal(self):
        u = max(self.next(), 1e-12)
        v = self.next()
        return math.sqrt(-2 * math.log(u)) * math.cos(2 * math.pi * v)

    def permutation(self, n):
        items = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.int(i + 1)
            items[i], items[j] = items[j], items[i]
        return items

    def fork(self):
        return math.floor(self.next() * 2**31)


SHAPES = [
    lambda u, v: u * u + v * v <= 1,  # disk
    lambda u, v: max(abs(u), abs(v)) <= 0.8,  # square
    lambda u, v: v <= 0.8 and abs(u) <= (v + 1) / 2,  # triangle, apex up
    lambda u, v: 0.35 <= u * u + v * v <= 1,  # ring
    lambda u, v: max(abs(u), abs(v)) <= 1 and min(abs(u), abs(v)) <= 0.3,  # plus
    lambda u, v: max(abs(u), abs(v)) <= 1 and math.floor((v + 1) * 2.5) % 2 == 0,  # horizontal stripes
    lambda u, v: max(abs(u), abs(v)) <= 1 and math.floor((u + 1) * 2.5) % 2 == 0,  # vertical stripes
    lambda u, v: abs(u) + abs(v) <= 1,  # diamond
    lambda u, v: max(abs(u), abs(v)) <= 1 and abs(abs(u) - abs(v)) <= 0.3,  # X
    lambda u, v: max(abs(u), abs(v)) <= 1 and (math.floor((u + 1) * 2) + math.floor((v + 1) * 2)) % 2 == 0,  # checker
]
SHAPE_NAMES = ["disk", "square", "triangle", "ring", "plus", "hstripes", "vstripes", "diamond", "x", "checker"]


def class_colour(k, classes, channels):
    hue = k / classes * 6
    sector = math.floor(hue)
    f = hue - sector
    rgb = [[1, f, 0], [1 - f, 1, 0], [0, 1, f], [0, 1 - f, 1], [f, 0, 1], [1, 0, 1 - f]][sector % 6]
    if channels == 1:
        return [0.4 + 0.6 * (k / max(1, classes - 1))]
    return [rgb[c] if c < 3 else 0.5 + 0.5 * math.cos(k) for c in range(channels)]


def js_round(x):
    """JavaScript's Math.round: ties towards +infinity."""
    r = math.floor(x)
    return r + 1 if x - r >= 0.5 else r


def synthetic_split(options, count, rng):
    classes, size, channels, noise = options["classes"], options["size"], options["channels"], options["noise"]
    labels = [position % classes for position in rng.permutation(count)]
    colours = [class_colour(k, classes, channels) for k in range(classes)]
    pixels = bytearray(count * size * size * channels)
    targets = []  # the radius in percent of the side: dataset.target 'size'
    out = 0
    for i in range(count):
        label = labels[i]
        shape = SHAPES[label % len(SHAPES)]
        background = [rng.uniform(0, 0.3) for _ in range(channels)]
        brightness = rng.uniform(0.7, 1)
        radius = size * rng.uniform(0.28, 0.42)
        targets.append(100 * radius / size)
        centre_x = (size - 1) / 2 + size * rng.uniform(-0.15, 0.15)
        centre_y = (size - 1) / 2 + size * rng.uniform(-0.15, 0.15)
        for y in range(size):
            for x in range(size):
                inside = shape((x - centre_x) / radius, (y - centre_y) / radius)
                for c in range(channels):
                    value = (colours[label][c] * brightness if inside else background[c]) + noise * rng.normal()
                    pixels[out] = js_round(255 * min(1, max(0, value)))
                    out += 1
    images = bytes_tensor(bytes(pixels)).view(count, size, size, channels)
    return Split(images, torch.tensor(labels, dtype=torch.int64), torch.tensor(targets, dtype=torch.float32))


def synthetic(options, seed):
    seeds = Rng(seed)
    train_seed, test_seed = seeds.fork(), seeds.fork()
    classes = [SHAPE_NAMES[k] if k < len(SHAPES) else f"{SHAPE_NAMES[k % len(SHAPES)]}-{k}" for k in range(options["classes"])]
    return Dataset(
        "synthetic", classes,
        synthetic_split(options, options["trainCount"], Rng(train_seed)),
        synthetic_split(options, options["testCount"], Rng(test_seed)),
    )


# ---- regression targets (src/engine/data/targets.ts) ----

def rotate_images(images, angles, chunk=1024):
    """Every image of uint8 [N, H, W, C] rotated by its angle in degrees (counter-clockwise in the picture, about
    the centre), bilinear, an out-of-image point taking the nearest border pixel; rounded as Math.round does."""
    count, height, width, channels = images.shape
    cy, cx = (height - 1) / 2, (width - 1) / 2
    dy = torch.arange(height, dtype=torch.float64).view(1, height, 1) - cy
    dx = torch.arange(width, dtype=torch.float64).view(1, 1, width) - cx
    out = torch.empty_like(images)
    for start in range(0, count, chunk):
        thetas = [float(a) * math.pi / 180 for a in angles[start : start + chunk]]
        n = len(thetas)
        cos = torch.tensor([math.cos(t) for t in thetas], dtype=torch.float64).view(n, 1, 1)
        sin = torch.tensor([math.sin(t) for t in thetas], dtype=torch.float64).view(n, 1, 1)
        # the source of output pixel (x, y): rotated back by -theta (y grows downwards)
        sx = cx + cos * dx - sin * dy
        sy = cy + sin * dx + cos * dy
        x0, y0 = torch.floor(sx), torch.floor(sy)
        fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
        batch = images[start : start + n].to(torch.float64)
        rows = torch.arange(n).view(n, 1, 1)

        def pixel(y, x):
            return batch[rows, y.clamp(0, height - 1).long(), x.clamp(0, width - 1).long()]

        value = (1 - fy) * ((1 - fx) * pixel(y0, x0) + fx * pixel(y0, x0 + 1)) + fy * (
            (1 - fx) * pixel(y0 + 1, x0) + fx * pixel(y0 + 1, x0 + 1)
        )
        whole = torch.floor(value)
        out[start : start + n] = (whole + (value - whole >= 0.5).to(torch.float64)).to(torch.uint8)
    return out


def apply_target(dataset, spec, seed):
    """The dataset a run trains on for dataset.target (applyTarget): 'class' without targets; 'rotation' every image
    rotated by its angle, drawn uniformly from [-maxRotation, maxRotation] degrees (float32) by streams seeded from
    the run's seed (one per split), the angle its target; 'size' the synthetic shapes' radius in percent of the side."""
    target = spec["target"]
    if target == "class":
        strip = lambda split: Split(split.images, split.labels)  # noqa: E731
        return Dataset(dataset.name, dataset.classes, strip(dataset.train), strip(dataset.test))
    if target == "size":
        if dataset.train.targets is None or dataset.test.targets is None:
            raise ValueError("dataset.target 'size': only the synthetic dataset has a size target; use 'rotation' or 'class'")
        return dataset
    seeds = Rng((seed ^ 0x6A09E667) & MASK32)
    split_seeds = seeds.fork(), seeds.fork()
    splits = []
    for split, split_seed in zip((dataset.train, dataset.test), split_seeds):
        rng = Rng(split_seed)
        angles = torch.tensor([rng.uniform(-spec["maxRotation"], spec["maxRotation"]) for _ in range(len(split))], dtype=torch.float32)
        splits.append(Split(rotate_images(split.images, angles), split.labels, angles))
    return Dataset(dataset.name, dataset.classes, *splits)


# ---- choosing ----

def open_dataset(config, data_dir):
    """The run's dataset: 'synthetic' from the config, anything else from what data_dir holds."""
    spec = config["dataset"]
    if spec["id"] == "synthetic":
        return synthetic(spec["synthetic"], config["seed"])
    if not os.path.isdir(data_dir):
        raise SystemExit(
            f"the run trains on '{spec['id']}': pass --data-dir with its files (not found: {data_dir}); "
            "CIFAR-10 binary batches, (Fashion-)MNIST idx files, or a folder with one sub-folder of images per class"
        )
    names = os.listdir(data_dir)
    if any(re.fullmatch(r"data_batch_\d+\.bin", n) for n in names):
        return cifar10(data_dir)
    if any(n.startswith("train-images-idx3-ubyte") for n in names):
        classes = MNIST_CLASSES if spec["id"] == "mnist" else FASHION_MNIST_CLASSES
        return idx_dataset(data_dir, spec["id"], classes)
    return image_folder(data_dir)


def channel_statistics(split, count):
    """Per-channel mean and std of the first min(count, 10000) images in [0, 1] units (the trainer's channelStatistics)."""
    pixels = split.images[: min(count, 10_000)].to(torch.float64).div(255).reshape(-1, split.images.shape[3])
    mean = pixels.mean(0)
    std = torch.sqrt(((pixels**2).mean(0) - mean**2).clamp(min=1e-6))
    return mean.tolist(), std.tolist()
