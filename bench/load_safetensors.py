"""Load a playground safetensors export in PyTorch: python bench/load_safetensors.py run.safetensors"""
import json, sys
from safetensors import safe_open
from safetensors.torch import load_file

path = sys.argv[1]
weights = load_file(path)  # {"backbone/bb_conv1/kernel": tensor, ...}; tfjs layouts: conv [kh,kw,in,out], dense [in,out]
with safe_open(path, framework="pt") as f:
    run_config = json.loads(f.metadata()["run_config"])
print(run_config)
for name, tensor in weights.items():
    print(name, tuple(tensor.shape), tensor.dtype)
# For torch.nn.Conv2d weights use kernel.permute(3, 2, 0, 1); for nn.Linear use kernel.T.
