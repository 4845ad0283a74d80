"""SimCLR-style augmentations of image batches, as the playground draws and applies them (src/engine/augment.ts).

In the SimCLR order: random resized crop (torchvision's RandomResizedCrop parameters, bilinear resampling with
half-pixel centres) -> horizontal flip -> with probability p colour jitter (brightness, contrast, saturation, hue in
a random order per image, torchvision's formulas, each clipped to [0, 1]) -> grayscale. Images are float
[N, C, H, W] in [0, 1] with C = 1 or 3. Every random choice is drawn up front from a torch.Generator for the whole
global batch (sample_params); each rank then applies the rows of its own images (apply_params), so the views do
not depend on how many processes share the batch.
"""

import math

import torch
import torch.nn.functional as F

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601
JITTER_OPS = ("brightness", "contrast", "saturation", "hue")


def uniform(n, lo, hi, generator):
    return lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64)


def sample_crops(n, height, width, scale, ratio, generator):
    """torchvision's RandomResizedCrop.get_params for n images: up to 10 tries of area = H W U(scale),
    aspect = exp(U(log ratio)), w = round(sqrt(area aspect)), h = round(sqrt(area / aspect)), the first that fits
    placed uniformly; otherwise the central crop clamped to the ratio range. Returns (top, left, h, w), each [n]."""
    tries = 10
    area = height * width * uniform((n, tries), scale[0], scale[1], generator)
    aspect = torch.exp(uniform((n, tries), math.log(ratio[0]), math.log(ratio[1]), generator))
    w = torch.round(torch.sqrt(area * aspect))  # torch.round is half-to-even, like Python's round
    h = torch.round(torch.sqrt(area / aspect))
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.to(torch.int64).argmax(1, keepdim=True)
    found = fits.any(1)
    w, h = w.gather(1, first).squeeze(1), h.gather(1, first).squeeze(1)
    fallback_w, fallback_h = float(width), float(height)
    if width / height < ratio[0]:
        fallback_h = float(round(width / ratio[0]))
    elif width / height > ratio[1]:
        fallback_w = float(round(height * ratio[1]))
    w = torch.where(found, w, torch.full_like(w, fallback_w))
    h = torch.where(found, h, torch.full_like(h, fallback_h))
    top = torch.floor(torch.rand(n, generator=generator, dtype=torch.float64) * (height - h + 1))
    left = torch.floor(torch.rand(n, generator=generator, dtype=torch.float64) * (width - w + 1))
    top = torch.where(found, top, torch.floor((height - h) / 2))
    left = torch.where(found, left, torch.floor((width - w) / 2))
    return top, left, h, w


def sample_params(n, height, width, augment, generator, crop_scale=None):
    """Every random choice for n images (a dict of [n] tensors); crop_scale overrides augment.crop.scale (multi-crop)."""
    crop = augment["crop"]
    if crop_scale is not None:
        crop = {"scale": crop_scale, "ratio": crop["ratio"] if crop else [3 / 4, 4 / 3]}
    if crop:
        top, left, h, w = sample_crops(n, height, width, crop["scale"], crop["ratio"], generator)
    else:
        top, left = torch.zeros(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
        h, w = torch.full((n,), float(height), dtype=torch.float64), torch.full((n,), float(width), dtype=torch.float64)
    params = {"top": top, "left": left, "height": h, "width": w}
    params["flip"] = torch.rand(n, generator=generator) < augment["flip"]
    jitter = augment["jitter"]
    if jitter:
        params["jitter"] = torch.rand(n, generator=generator) < jitter["p"]
        params["order"] = torch.rand(n, 4, generator=generator).argsort(1)  # a random op order per image
        for name in ("brightness", "contrast", "saturation"):
            strength = jitter[name]
            params[name] = uniform(n, max(0.0, 1 - strength), 1 + strength, generator)
        params["hue"] = uniform(n, -jitter["hue"], jitter["hue"], generator)
    else:
        params["jitter"] = torch.zeros(n, dtype=torch.bool)
    params["grayscale"] = torch.rand(n, generator=generator) < augment["grayscale"]
    return params


def select(params, rows):
    """The parameters of some images (a rank's positions in the global batch)."""
    return {key: value[rows] for key, value in params.items()}


def luma(x):
    """Y = 0.299 R + 0.587 G + 0.114 B as [N, 1, H, W]; a 1-channel image is its own luma."""
    if x.shape[1] == 1:
        return x
    return LUMA[0] * x[:, 0:1] + LUMA[1] * x[:, 1:2] + LUMA[2] * x[:, 2:3]


def per_image(values, x):
    return values.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)


def adjust_brightness(x, f):
    return (per_image(f, x) * x).clamp(0, 1)


def adjust_contrast(x, f):
    f = per_image(f, x)
    return (f * x + (1 - f) * luma(x).mean(dim=(1, 2, 3), keepdim=True)).clamp(0, 1)


def adjust_saturation(x, f):
    f = per_image(f, x)
    return (f * x + (1 - f) * luma(x)).clamp(0, 1)


def adjust_hue(x, shift):
    """torchvision's adjust_hue: RGB -> HSV, h <- frac(h + shift), HSV -> RGB; shift in turns."""
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    maxc, minc = x.max(1).values, x.min(1).values
    grey = maxc == minc
    chroma = maxc - minc
    ones = torch.ones_like(maxc)
    saturation = chroma / torch.where(grey, ones, maxc)
    divisor = torch.where(grey, ones, chroma)
    rc, gc, bc = (maxc - r) / divisor, (maxc - g) / divisor, (maxc - b) / divisor
    max_r = maxc == r
    max_g = (maxc == g) & ~max_r
    max_b = ~(maxc == g) & ~max_r
    sixths = max_r * (bc - gc) + max_g * (2 + rc - bc) + max_b * (4 + gc - rc)
    hue = sixths / 6 + shift.to(device=x.device, dtype=x.dtype).view(-1, 1, 1) + 2
    hue = hue - torch.floor(hue)
    sector6 = hue * 6
    sector = torch.floor(sector6)
    within = sector6 - sector
    sector = sector.to(torch.int64) % 6
    value = maxc
    p = (value * (1 - saturation)).clamp(0, 1)
    q = (value * (1 - saturation * within)).clamp(0, 1)
    t = (value * (1 - saturation * (1 - within))).clamp(0, 1)
    candidates = torch.stack([
        torch.stack([value, q, p, p, t, value]),
        torch.stack([t, value, value, q, p, p]),
        torch.stack([p, p, t, value, value, q]),
    ])  # [rgb, sector, N, H, W]
    return candidates.gather(1, sector[None, None].expand(3, 1, *sector.shape)).squeeze(1).transpose(0, 1)


ADJUST = {"brightness": adjust_brightness, "contrast": adjust_contrast, "saturation": adjust_saturation, "hue": adjust_hue}


EDGE_INSET = 1e-4  # sample points stay this far inside the first and last pixel, as in the playground


def sample_axis(start, size, out, full, flip=None):
    """Pixel coordinates of the first and last sample along one axis, and the step between samples.

    Output pixel k samples start + (k + 0.5) size / out - 0.5 (half-pixel centres, like any resize); the first and
    last of these are clamped into the image and the others spread evenly between them, which is how the
    playground's tf.image.cropAndResize box reads. A flip walks from the last sample to the first.
    """
    identity = (start == 0) & (size == full) & (out == full)
    inset = torch.where(identity, torch.zeros_like(start), torch.full_like(start, EDGE_INSET))
    first = torch.minimum(torch.maximum(start + 0.5 * size / out - 0.5, inset), full - 1 - inset)
    last = torch.minimum(torch.maximum(start + size - 0.5 * size / out - 0.5, inset), full - 1 - inset)
    if flip is not None:
        first, last = torch.where(flip, last, first), torch.where(flip, first, last)
    if out == 1:
        return (first + last) / 2, torch.zeros_like(first)
    return first, (last - first) / (out - 1)


def crop_flip_resize(images, params, out_size):
    """One bilinear resampling for crop + flip + resize (F.grid_sample with the sample points of sample_axis)."""
    n, channels, height, width = images.shape
    out_h, out_w = out_size
    theta = torch.zeros(n, 2, 3, dtype=torch.float64)
    # output pixel k sits at normalised x = (2k + 1) / out - 1, source pixel p at (2p + 1) / full - 1
    for row, (start, size, out, full, flip) in enumerate([
        (params["left"], params["width"], out_w, width, params["flip"]),
        (params["top"], params["height"], out_h, height, None),
    ]):
        first, step = sample_axis(start.to(torch.float64), size.to(torch.float64), out, full, flip)
        theta[:, row, row] = step * out / full
        theta[:, row, 2] = (2 * first + step * (out - 1) + 1) / full - 1
    grid = F.affine_grid(theta.to(device=images.device, dtype=images.dtype), [n, channels, out_h, out_w], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def apply_params(images, params, out_size):
    """The drawn augmentation of every image: [N, C, H, W] in [0, 1] -> [N, C, out_h, out_w]."""
    x = crop_flip_resize(images, params, out_size)
    colour = x.shape[1] == 3
    if params["jitter"].any():
        for position in range(4):
            for op, name in enumerate(JITTER_OPS):
                if name in ("saturation", "hue") and not colour:
                    continue
                chosen = params["jitter"] & (params["order"][:, position] == op)
                if name == "hue":
                    chosen &= params["hue"] != 0  # the HSV round trip is exact only up to float error
                rows = chosen.nonzero().squeeze(1).to(x.device)
                if len(rows):
                    x = x.index_copy(0, rows, ADJUST[name](x[rows], params[name][chosen.cpu()]))
    if colour and params["grayscale"].any():
        rows = params["grayscale"].nonzero().squeeze(1).to(x.device)
        x = x.index_copy(0, rows, luma(x[rows]).expand(-1, 3, -1, -1))
    return x


def view_specs(views, image_size):
    """(crop scale override, output size) of every view: views.large full-size views, then views.small small crops."""
    specs = [(None, image_size)] * views["large"]
    specs += [(views["smallScale"], (views["smallSize"], views["smallSize"]))] * views["small"]
    return specs


def make_views(images, augment, views, generator, rows, global_batch):
    """The views of this rank's images [b, C, H, W]: parameters drawn for the whole global batch, applied to `rows`
    (this rank's positions in it)."""
    return make_views_with_geometry(images, augment, views, generator, rows, global_batch)[0]


GEOMETRY = ("top", "left", "height", "width", "flip")


def make_views_with_geometry(images, augment, views, generator, rows, global_batch):
    """make_views (the same draws, the same views) and every view's geometry: geometry[v] is a dict of [b] tensors,
    the crop box of this rank's images in source pixels (rows [top, top + height), columns [left, left + width))
    and whether the crop was flipped (PixPro's pixel correspondences, methods.correspondence_masks)."""
    height, width = images.shape[2], images.shape[3]
    out, geometry = [], []
    for crop_scale, size in view_specs(views, (height, width)):
        params = select(sample_params(global_batch, height, width, augment, generator, crop_scale), rows)
        out.append(apply_params(images, params, size))
        geometry.append({key: params[key] for key in GEOMETRY})
    return out, geometry
