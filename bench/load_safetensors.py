"""Load a playground safetensors export in PyTorch: /usr/bin/python3 bench/load_safetensors.py model.safetensors

Prints the RunConfig, the input preprocessing and every tensor (TF.js layouts: conv kernels [kh, kw, in, out],
dense kernels [in, out]), then builds the encoder as torch.nn.Modules with the PyTorch project's model.py and
embeds a few random images given as raw pixels, as the TF.js export's predict would. Needs only PyTorch (the
`safetensors` package is used when installed). `npm run export-pytorch` writes the whole project for a run.
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src", "engine", "pytorch", "project"))

import torch  # noqa: E402

import safetensors_io  # noqa: E402
from model import load_pretrained  # noqa: E402

path = sys.argv[1]
tensors, metadata = safetensors_io.load(path)
print("run_config:", json.loads(metadata["run_config"]))
print("preprocessing:", metadata.get("preprocessing", "(none: an export made before exports recorded it)"))
for name, tensor in tensors.items():
    print(name, tuple(tensor.shape), tensor.dtype)
if "preprocessing" in metadata:
    encoder, config, preprocessing = load_pretrained(path)
    pixels = torch.randint(0, 256, (4, *preprocessing["image_size"], preprocessing["channels"]), dtype=torch.uint8)
    with torch.no_grad():
        h, z = encoder(pixels)
    print(f"h {tuple(h.shape)}, z {tuple(z.shape)} for 4 random images of raw pixels")
