"""The playground's encoders as torch.nn.Modules, layer for layer, and the loader for its safetensors exports.

Encoder = backbone (mlp, convnet or CIFAR ResNet) -> h [N, F], then the projector MLP -> z [N, D]. Inputs are
standardised images [N, C, H, W]: x = (pixels / 255 - mean[c]) / std[c] with the training set's channel mean and
std (PixelEncoder does this for raw pixels, like the TF.js export does).

Where TF.js and PyTorch differ, the modules here follow TF.js so that exported weights give the same numbers:
- 'same' padding: TF.js pads (total // 2) before and the rest after, so a stride-2 3x3 conv on an even size pads
  0 top/left and 1 bottom/right (Conv2dSame); max-pooling pads the bottom/right edge of odd sizes (max_pool_same);
  RunConfig nn.padding 'symmetric' gives PyTorch's k // 2 on every side instead (only strided 3x3 convs differ);
- BatchNorm: Keras momentum (moving = m * moving + (1 - m) * batch, m = 0.9 is torch's momentum 0.1), the moving
  variance follows the biased batch variance (torch's BatchNorm uses the unbiased one), and under torch.distributed
  the batch statistics cover every rank's batch (BatchNorm);
- weight layouts: TF.js conv kernels are [kh, kw, in, out] (torch [out, in, kh, kw]) and dense kernels [in, out]
  (torch [out, in]); the mlp backbone flattens channels-last images, as TF.js does.
Every module that holds exported weights has `tfjs_name`, the TF.js layer it mirrors (e.g. "bb_s1b0_conv1").
"""

import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

import distributed
import safetensors_io
from config import parse_run_config

MODEL_FORMAT = "contrastive-playground-model"


def same_padding(size, kernel, stride):
    """TF.js 'same' padding of one axis: (before, after), the odd pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """nn.Conv2d (bias-free unless bias=True) with TF.js 'same' padding, or PyTorch's symmetric kernel // 2
    (symmetric=True)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, tfjs_name=None, symmetric=False, bias=False):
        super().__init__(in_channels, out_channels, kernel_size, stride, bias=bias)
        self.tfjs_name = tfjs_name
        self.symmetric = symmetric

    def forward(self, x):
        (kernel, _), (stride, _) = self.kernel_size, self.stride
        if self.symmetric:
            return F.conv2d(x, self.weight, self.bias, stride=stride, padding=kernel // 2)
        top, bottom = same_padding(x.shape[2], kernel, stride)
        left, right = same_padding(x.shape[3], kernel, stride)
        if top == bottom and left == right:
            return F.conv2d(x, self.weight, self.bias, stride=stride, padding=(top, left))
        return F.conv2d(F.pad(x, (left, right, top, bottom)), self.weight, self.bias, stride=stride)


def max_pool_same(x):
    """2x2 max-pooling with stride 2 and TF.js 'same' padding (odd sizes keep their last row and column)."""
    bottom, right = x.shape[2] % 2, x.shape[3] % 2
    if bottom or right:
        x = F.pad(x, (0, right, 0, bottom), value=-math.inf)
    return F.max_pool2d(x, 2, 2)


class Dense(nn.Linear):
    """nn.Linear that knows its TF.js layer (whose kernel is this weight transposed)."""

    def __init__(self, in_features, out_features, bias=True, tfjs_name=None):
        super().__init__(in_features, out_features, bias=bias)
        self.tfjs_name = tfjs_name


class BatchNorm(nn.Module):
    """BatchNormalization over dim 1 of [N, C] or [N, C, H, W], with TF.js's semantics.

    y = (x - mean) / sqrt(var + eps) * weight + bias, with the batch's mean and biased variance in training and the
    moving averages in eval mode; after a training batch moving = momentum * moving + (1 - momentum) * batch value.
    sync=True (the encoder): under torch.distributed the batch statistics are those of the global batch, as a single
    process would compute them. Heads that run on already gathered rows use sync=False.
    """

    def __init__(self, num_features, momentum=0.9, eps=1e-5, sync=True, tfjs_name=None):
        super().__init__()
        self.momentum, self.eps, self.sync, self.tfjs_name = momentum, eps, sync, tfjs_name
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        shape = [1, -1] + [1] * (x.dim() - 2)
        if self.training:
            dims = [0] + list(range(2, x.dim()))
            synced = self.sync and distributed.is_distributed()
            reduce = distributed.all_reduce_sum if synced else (lambda t: t)
            # every rank holds the same number of images (train.py splits the batch evenly)
            count = x.numel() // x.shape[1] * (distributed.world_size() if synced else 1)
            mean = reduce(x.sum(dims)) / count
            var = reduce(((x - mean.view(shape)) ** 2).sum(dims)) / count
            with torch.no_grad():
                self.running_mean.mul_(self.momentum).add_(mean.detach(), alpha=1 - self.momentum)
                self.running_var.mul_(self.momentum).add_(var.detach(), alpha=1 - self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        scale = torch.rsqrt(var + self.eps) * self.weight
        return (x - mean.view(shape)) * scale.view(shape) + self.bias.view(shape)

    def extra_repr(self):
        return f"{self.weight.shape[0]}, momentum={self.momentum} (TF.js convention), eps={self.eps}, sync={self.sync}"


class MLPBackbone(nn.Module):
    """h_k = ReLU(BN(W_k h_{k-1})), h_0 = the flattened image: only the training image size fits (src/nn/mlp.ts)."""

    def __init__(self, image_shape, hidden):
        super().__init__()
        height, width, channels = image_shape
        widths = [height * width * channels] + list(hidden)
        self.layers = nn.ModuleList()
        for k in range(len(hidden)):
            self.layers.append(Dense(widths[k], widths[k + 1], bias=False, tfjs_name=f"bb_fc{k}"))
            self.layers.append(BatchNorm(widths[k + 1], tfjs_name=f"bb_bn{k}"))
            self.layers.append(nn.ReLU())
        self.features = widths[-1]

    def forward(self, x):
        x = x.permute(0, 2, 3, 1).flatten(1)  # channels-last order, so the exported kernel rows line up
        for layer in self.layers:
            x = layer(x)
        return x


class ConvNetBackbone(nn.Module):
    """Per stage: MaxPool2x2_same(ReLU(BN(Conv3x3_same(x)))), then global average pooling (src/nn/convnet.ts)."""

    def __init__(self, in_channels, channels):
        super().__init__()
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for k, width in enumerate(channels):
            self.convs.append(Conv2dSame(in_channels if k == 0 else channels[k - 1], width, 3, tfjs_name=f"bb_conv{k}"))
            self.norms.append(BatchNorm(width, tfjs_name=f"bb_bn{k}"))
        self.features = channels[-1]

    def spatial(self, x):
        """The map before global pooling, [N, F, h, w] (pixel-level objectives)."""
        for conv, norm in zip(self.convs, self.norms):
            x = max_pool_same(F.relu(norm(conv(x))))
        return x

    def forward(self, x):
        return self.spatial(x).mean(dim=(2, 3))


class BasicBlock(nn.Module):
    """y = BN(Conv3x3(ReLU(BN(Conv3x3_stride(x))))), out = ReLU(y + shortcut); shortcut = BN(Conv1x1_stride(x)) on a shape change."""

    def __init__(self, in_channels, width, stride, name, symmetric=False):
        super().__init__()
        self.conv1 = Conv2dSame(in_channels, width, 3, stride, tfjs_name=f"{name}_conv1", symmetric=symmetric)
        self.bn1 = BatchNorm(width, tfjs_name=f"{name}_bn1")
        self.conv2 = Conv2dSame(width, width, 3, 1, tfjs_name=f"{name}_conv2")
        self.bn2 = BatchNorm(width, tfjs_name=f"{name}_bn2")
        self.down_conv = self.down_bn = None
        if stride != 1 or in_channels != width:
            self.down_conv = Conv2dSame(in_channels, width, 1, stride, tfjs_name=f"{name}_down_conv")
            self.down_bn = BatchNorm(width, tfjs_name=f"{name}_down_bn")

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = x if self.down_conv is None else self.down_bn(self.down_conv(x))
        return F.relu(y + shortcut)


class CifarResNet(nn.Module):
    """CIFAR ResNet (src/nn/resnet.ts): 3x3 stride-1 stem, no max-pool, stage s > 0 starts with stride 2, global average pool."""

    def __init__(self, in_channels, widths, blocks, symmetric=False):
        super().__init__()
        self.stem_conv = Conv2dSame(in_channels, widths[0], 3, 1, tfjs_name="bb_stem_conv")
        self.stem_bn = BatchNorm(widths[0], tfjs_name="bb_stem_bn")
        self.blocks = nn.ModuleList()
        channels = widths[0]
        for s, (width, count) in enumerate(zip(widths, blocks)):
            for b in range(count):
                self.blocks.append(BasicBlock(channels, width, 2 if s > 0 and b == 0 else 1, f"bb_s{s}b{b}", symmetric))
                channels = width
        self.features = channels

    def spatial(self, x):
        """The map before global pooling, [N, F, h, w] (pixel-level objectives)."""
        x = F.relu(self.stem_bn(self.stem_conv(x)))
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, x):
        return self.spatial(x).mean(dim=(2, 3))


class MLPHead(nn.Module):
    """Linear -> [BN] -> ReLU for every hidden layer, then a plain Linear (src/nn/heads.ts): projector and predictors.
    layers 0 is the identity (RunConfig projector.layers 0: no projector, z = h).

    Hidden Linears have no bias when BatchNorm follows them. Layer k is TF.js's `{name}_fc{k}` / `{name}_bn{k}`.
    """

    def __init__(self, in_dim, layers, hidden, out, batch_norm, name, sync=True):
        super().__init__()
        self.layers = nn.ModuleList()
        for k in range(layers):
            last = k == layers - 1
            width_in = in_dim if k == 0 else hidden
            self.layers.append(Dense(width_in, out if last else hidden, bias=last or not batch_norm, tfjs_name=f"{name}_fc{k}"))
            if not last:
                if batch_norm:
                    self.layers.append(BatchNorm(hidden, sync=sync, tfjs_name=f"{name}_bn{k}"))
                self.layers.append(nn.ReLU())
        self.out = out if layers > 0 else in_dim

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class Encoder(nn.Module):
    """Backbone + projector: standardised images [N, C, H, W] -> (h [N, F], z [N, D]); forward_spatial also
    returns the backbone's map before global pooling (the mlp backbone has none)."""

    def __init__(self, backbone, projector):
        super().__init__()
        self.backbone, self.projector = backbone, projector
        self.feature_dim, self.embedding_dim = backbone.features, projector.out

    def forward(self, x):
        h = self.backbone(x)
        return h, self.projector(h)

    def forward_spatial(self, x):
        """(map [N, F, h, w], h, z): the same pass, with the backbone's map before global pooling (convnet and
        resnet; the mlp backbone flattens the image and has none)."""
        if not hasattr(self.backbone, "spatial"):
            raise ValueError(
                "the mlp encoder has no spatial map before a global pooling layer; pixel-level objectives need a "
                "convnet or resnet encoder"
            )
        spatial = self.backbone.spatial(x)
        h = spatial.mean(dim=(2, 3))
        return spatial, h, self.projector(h)


def build_encoder(config, image_shape):
    """The run's encoder for images of image_shape (height, width, channels), with the padding and initialisation
    of RunConfig nn (nn.init 'torch': PyTorch's own, 'tfjs': TF.js's; nn.padding 'same': TF.js's, 'symmetric': PyTorch's)."""
    spec, channels = config["encoder"], image_shape[2]
    if spec["type"] == "mlp":
        backbone = MLPBackbone(image_shape, spec["hidden"])
    elif spec["type"] == "convnet":
        backbone = ConvNetBackbone(channels, spec["channels"])
    else:
        backbone = CifarResNet(channels, spec["widths"], spec["blocks"], symmetric=config["nn"]["padding"] == "symmetric")
    p = config["projector"]
    projector = MLPHead(backbone.features, p["layers"], p["hidden"], p["out"], p["batchNorm"], "proj")
    encoder = Encoder(backbone, projector)
    if config["nn"]["init"] == "tfjs":
        initialise(encoder, resnet=spec["type"] == "resnet")
    # nn.init 'torch': the modules keep PyTorch's own Conv2d / Linear initialisation (kernels and biases
    # U(+-1 / sqrt(fan_in))), BatchNorm gamma 1 and beta 0 either way.
    return encoder


def initialise(module, resnet=False):
    """The TF.js initialisers: He-uniform dense kernels, He-normal conv kernels (fan_out for the ResNet, as
    torchvision's), both of TF.js's truncated-normal kind; zero biases; BatchNorm weight 1, bias 0."""
    for m in module.modules():
        if isinstance(m, Conv2dSame):
            fan = m.weight.shape[0 if resnet else 1] * m.weight.shape[2] * m.weight.shape[3]
            std = math.sqrt(2 / fan) / 0.87962566103423978  # TF.js scales a truncated normal to the wanted std
            nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
        elif isinstance(m, nn.Linear):
            bound = math.sqrt(6 / m.weight.shape[1])
            nn.init.uniform_(m.weight, -bound, bound)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


# ---- TF.js weight names and layouts ----

def tfjs_tensors(module, prefix):
    """(TF.js tensor name, tensor, to_torch, to_tfjs) for every exported weight and statistic under `module`."""
    transpose = (lambda t: t.t(), lambda t: t.t())
    conv = (lambda t: t.permute(3, 2, 0, 1), lambda t: t.permute(2, 3, 1, 0))
    same = (lambda t: t, lambda t: t)
    for m in module.modules():
        name = getattr(m, "tfjs_name", None)
        if name is None:
            continue
        base = f"{prefix}/{name}"
        if isinstance(m, Conv2dSame):
            yield f"{base}/kernel", m.weight, *conv
            if m.bias is not None:
                yield f"{base}/bias", m.bias, *same
        elif isinstance(m, nn.Linear):
            yield f"{base}/kernel", m.weight, *transpose
            if m.bias is not None:
                yield f"{base}/bias", m.bias, *same
        elif isinstance(m, BatchNorm):
            yield f"{base}/gamma", m.weight, *same
            yield f"{base}/beta", m.bias, *same
            yield f"{base}/moving_mean", m.running_mean, *same
            yield f"{base}/moving_variance", m.running_var, *same


def encoder_tfjs_tensors(encoder):
    yield from tfjs_tensors(encoder.backbone, "backbone")
    yield from tfjs_tensors(encoder.projector, "projector")


def load_tfjs_weights(entries, tensors, what="the weights file"):
    """Copies TF.js-layout tensors into the modules' weights; every name must be there with the right shape, and
    nothing else may be (otherwise a ValueError names each problem and nothing is written)."""
    entries = list(entries)
    problems, expected = [], set()
    for name, target, _, to_tfjs in entries:
        expected.add(name)
        wanted = list(to_tfjs(target.detach()).shape)  # a view: nothing is copied
        if name not in tensors:
            problems.append(f"{name} is missing from the file, the run expects shape {wanted}")
        elif list(tensors[name].shape) != wanted:
            problems.append(f"{name} has shape {list(tensors[name].shape)}, the run expects {wanted}")
    problems += [f"{name} is in the file but not in the run's network" for name in tensors if name not in expected]
    if problems:
        more = f" (and {len(problems) - 1} more: {'; '.join(problems[1:4])})" if len(problems) > 1 else ""
        raise ValueError(f"{what} is for a different encoder: {problems[0]}{more}")
    with torch.no_grad():
        for name, target, to_torch, _ in entries:
            target.copy_(to_torch(tensors[name]).to(target.dtype))


def tfjs_state(entries):
    """{TF.js name: tensor in TF.js layout} for safetensors exports the playground imports."""
    return {name: to_tfjs(target.detach()).contiguous().float().cpu() for name, target, _, to_tfjs in entries}


def encoder_weights_from_file(tensors):
    """The encoder tensors of an export (backbone/..., projector/...) or of a playground checkpoint
    (net/<i>/<layer>/<weight>: bb_* layers are the backbone's, the rest the projector's)."""
    if any(name.startswith("net/") for name in tensors):
        renamed = {}
        for name, tensor in tensors.items():
            if name.startswith("net/"):
                layer_name = name.split("/", 2)[2]
                renamed[("backbone/" if layer_name.startswith("bb_") else "projector/") + layer_name] = tensor
        return renamed
    return tensors


# ---- the exported contract ----

class PixelEncoder(nn.Module):
    """Raw pixels [N, H, W, C] (uint8, or float in [0, 255]) -> (h, z): what the TF.js export's predict computes."""

    def __init__(self, encoder, mean, std):
        super().__init__()
        self.encoder = encoder
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, pixels):
        x = pixels.float().permute(0, 3, 1, 2) / 255
        return self.encoder((x - self.mean) / self.std)


def load_pretrained(path, device="cpu"):
    """Reads a playground model.safetensors: returns (PixelEncoder in eval mode, RunConfig dict, preprocessing dict)."""
    tensors, metadata = safetensors_io.load(path)
    if "run_config" not in metadata or "preprocessing" not in metadata:
        raise ValueError(
            f"{path} has no run_config or preprocessing metadata; export the run again from the playground "
            "(older exports did not record the input standardisation)"
        )
    config = parse_run_config(json.loads(metadata["run_config"]))
    preprocessing = json.loads(metadata["preprocessing"])
    image_shape = (*preprocessing["image_size"], preprocessing["channels"])
    encoder = build_encoder(config, image_shape)
    load_tfjs_weights(encoder_tfjs_tensors(encoder), encoder_weights_from_file(tensors), str(path))
    model = PixelEncoder(encoder, preprocessing["mean"], preprocessing["std"]).to(device).eval()
    return model, config, preprocessing
