#!/usr/bin/env python3
"""The PyTorch reference's pieces on small inputs, for the engine's tests (src/cli/parity_reference.test.ts).

Reads a JSON list of requests on stdin, each {"op": NAME, ...}, and prints the JSON list of answers (one Python
start for a whole test file: importing torch is the slow part). Tensors travel as
{"shape": [...], "data": [flat float values]} in the engine's layout (images NHWC, conv kernels [kh, kw, cin, cout],
dense kernels [in, out]). Ops:
  backbone   {config, weights: {engine name: tensor}, x, training, perView} -> {h}: simclr_reference's Backbone
             (nn.padding from config) with the engine's weights, on x (per view when perView: BatchNorm per view)
  initStats  {config, seed} -> {layers: [{kind, fanIn, fanOut, std, maxAbs, biasStd, biasMaxAbs}]}: the weights
             Network gets under config.nn.init, per conv/linear layer in order
  augment    {x, params: [{crop: {top, left, height, width}, flip, jitter: {order, brightness, contrast,
             saturation, hue} | null, grayscale}], outSize} -> {y}
  ntxent     {z1, z2, tau} -> {loss}
  optimizer  {optimizer, w, grads: [tensor per step], lr} -> {w}: make_optimizer's steps on one weight matrix
  knn        {bank, bankLabels, queries, labels, k, temperature, classes} -> {accuracy}
"""
import json
import sys

import torch

import simclr_reference as ref


def tensor(t):
    return torch.tensor(t["data"], dtype=torch.float32).view(t["shape"])


def plain(x):
    return {"shape": list(x.shape), "data": x.detach().reshape(-1).tolist()}


def conv_kernel(t):
    return tensor(t).permute(3, 2, 0, 1)  # [kh, kw, cin, cout] -> [cout, cin, kh, kw]


def load_backbone(backbone, blocks, weights):
    """Engine layer names (bb_stem_conv, bb_s{s}b{b}_{conv1,bn1,conv2,bn2,down_conv,down_bn}) -> the torch modules."""
    modules = {"bb_stem_conv": backbone.stem[0], "bb_stem_bn": backbone.stem[1]}
    index = 0
    for s, count in enumerate(blocks):
        for b in range(count):
            block = backbone.blocks[index]
            prefix = f"bb_s{s}b{b}"
            modules.update({f"{prefix}_conv1": block.conv1, f"{prefix}_bn1": block.bn1,
                            f"{prefix}_conv2": block.conv2, f"{prefix}_bn2": block.bn2})
            if block.shortcut is not None:
                modules.update({f"{prefix}_down_conv": block.shortcut[0], f"{prefix}_down_bn": block.shortcut[1]})
            index += 1
    fields = {"kernel": "weight", "gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
              "moving_variance": "running_var"}
    with torch.no_grad():
        for name, value in weights.items():
            layer, field = name.split("/")
            target = getattr(modules[layer], fields[field])
            target.copy_(conv_kernel(value) if field == "kernel" else tensor(value))


def op_backbone(req):
    config = req["config"]
    enc = config["encoder"]
    backbone = ref.Backbone(enc["widths"], enc["blocks"], req["x"]["shape"][3], config["nn"]["padding"])
    load_backbone(backbone, enc["blocks"], req["weights"])
    backbone.train(req["training"])
    x = tensor(req["x"]).permute(0, 3, 1, 2)
    with torch.no_grad():
        if req.get("perView"):
            h = torch.cat([backbone(v) for v in x.chunk(req["perView"])])
        else:
            h = backbone(x)
    return {"h": plain(h)}


def op_init_stats(req):
    config = req["config"]
    torch.manual_seed(req["seed"])
    net = ref.Network(config)
    if config["nn"]["init"] == "tfjs":
        ref.init_tfjs_(net, torch.Generator().manual_seed(req["seed"]))
    layers = []
    for m in net.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            w = m.weight.detach()
            fan_in = w[0].numel()
            fan_out = w.shape[0] * (w[0, 0].numel() if w.dim() > 2 else 1)
            entry = {"kind": "conv" if w.dim() == 4 else "dense", "fanIn": fan_in, "fanOut": fan_out,
                     "std": w.std().item(), "maxAbs": w.abs().max().item()}
            if m.bias is not None:
                entry.update({"biasStd": m.bias.std().item(), "biasMaxAbs": m.bias.abs().max().item()})
            layers.append(entry)
    return {"layers": layers}


def op_augment(req):
    x = tensor(req["x"]).permute(0, 3, 1, 2)
    out_h, out_w = req["outSize"]
    names = ["brightness", "contrast", "saturation", "hue"]
    views = []
    for image, p in zip(x, req["params"]):
        c = p["crop"]
        y = ref.resize_crop(image, (c["top"], c["left"], c["height"], c["width"]), p["flip"], out_h, out_w)
        if p["jitter"]:
            j = p["jitter"]
            y = ref.apply_jitter(y, [names.index(op) for op in j["order"]], [j[n] for n in names])
        if p["grayscale"]:
            y = ref.luma(y).expand(3, -1, -1)
        views.append(y)
    return {"y": plain(torch.stack(views).permute(0, 2, 3, 1))}


def op_ntxent(req):
    return {"loss": ref.ntxent(tensor(req["z1"]), tensor(req["z2"]), req["tau"]).item()}


def op_optimizer(req):
    w = torch.nn.Parameter(tensor(req["w"]))
    net = torch.nn.Module()
    net.w = w
    opt = ref.make_optimizer(net, req["optimizer"], "kernels")
    for g in req["grads"]:
        for group in opt.param_groups:
            group["lr"] = req["lr"]
        w.grad = tensor(g)
        opt.step()
    return {"w": plain(w)}


def op_knn(req):
    accuracy = ref.knn_top1(tensor(req["bank"]), torch.tensor(req["bankLabels"]), tensor(req["queries"]),
                            torch.tensor(req["labels"]), req["k"], req["temperature"], req["classes"])
    return {"accuracy": accuracy}


OPS = {"backbone": op_backbone, "initStats": op_init_stats, "augment": op_augment, "ntxent": op_ntxent,
       "optimizer": op_optimizer, "knn": op_knn}

if __name__ == "__main__":
    torch.set_num_threads(1)
    requests = json.load(sys.stdin)
    for request in requests:
        if request.get("op") not in OPS:
            raise SystemExit(f"unknown op {request.get('op')!r}; one of {', '.join(OPS)}")
    print(json.dumps([OPS[request["op"]](request) for request in requests]))
