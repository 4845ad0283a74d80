"""Reads and writes safetensors files (https://github.com/huggingface/safetensors).

Uses the `safetensors` package when it is installed, and otherwise the short reader and writer below, so the
project needs nothing beyond PyTorch. The format: an 8-byte little-endian header length N, then N bytes of JSON
mapping every tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (plus an optional "__metadata__"
of strings), then the raw little-endian, row-major tensor bytes, back to back.
"""

import ctypes
import json
import struct
import sys

import torch

DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
NAMES = {dtype: name for name, dtype in DTYPES.items()}
# the reference implementation refuses larger headers; so does this reader, before allocating anything
MAX_HEADER_BYTES = 100_000_000


def load(path):
    """Returns ({name: tensor}, {metadata key: string}) of the safetensors file at `path`."""
    try:
        from safetensors import safe_open
    except ImportError:
        with open(path, "rb") as f:
            return parse(f.read(), str(path))
    with safe_open(str(path), framework="pt") as f:
        return {name: f.get_tensor(name) for name in f.keys()}, dict(f.metadata() or {})


def parse(data, name="safetensors file"):
    """The reader: checks the header against the file's size before it reads a tensor."""
    if len(data) < 8:
        raise ValueError(f"{name}: {len(data)} bytes is too short for a safetensors file (it needs an 8-byte header length)")
    (header_length,) = struct.unpack("<Q", data[:8])
    if header_length > min(MAX_HEADER_BYTES, len(data) - 8):
        raise ValueError(f"{name}: header length {header_length} exceeds the {len(data) - 8} bytes after it; the file is truncated or not safetensors")
    try:
        header = json.loads(data[8 : 8 + header_length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{name}: the header is not JSON ({error}); the file is not safetensors") from error
    if not isinstance(header, dict):
        raise ValueError(f"{name}: the header must be a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    for tensor_name, entry in header.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("shape"), list) or len(entry.get("data_offsets") or []) != 2:
            raise ValueError(f"{name}: tensor {tensor_name!r} has header entry {entry!r}; expected {{dtype, shape, data_offsets}}")
    body = memoryview(data)[8 + header_length :]
    tensors, covered = {}, 0
    for tensor_name, entry in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
        dtype = DTYPES.get(entry.get("dtype"))
        if dtype is None:
            raise ValueError(f"{name}: tensor {tensor_name!r} has dtype {entry.get('dtype')!r}; known: {', '.join(DTYPES)}")
        shape, (begin, end) = entry["shape"], entry["data_offsets"]
        count = 1
        for size in shape:
            count *= size
        itemsize = torch.empty((), dtype=dtype).element_size()
        if begin != covered or end - begin != count * itemsize or end > len(body):
            raise ValueError(f"{name}: tensor {tensor_name!r} (shape {shape}, {entry['dtype']}) has data_offsets [{begin}, {end}], which do not fit the file; it is corrupt")
        covered = end
        raw = bytearray(body[begin:end])  # a copy: frombuffer needs a writable buffer and must not alias `data`
        tensor = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        if sys.byteorder == "big" and itemsize > 1:
            tensor = tensor.view(torch.uint8).view(-1, itemsize).flip(1).reshape(-1).view(dtype)
        tensors[tensor_name] = tensor.reshape(shape)
    if covered != len(body):
        raise ValueError(f"{name}: the tensors cover {covered} bytes but {len(body)} follow the header; the file is truncated or has trailing data")
    return tensors, metadata


def save(path, tensors, metadata=None):
    """Writes {name: tensor} and string metadata as safetensors (with the package when installed)."""
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()}
    metadata = {key: str(value) for key, value in (metadata or {}).items()}
    try:
        from safetensors.torch import save_file
    except ImportError:
        pass
    else:
        save_file(tensors, str(path), metadata=metadata)
        return
    header, offset, chunks = {"__metadata__": metadata} if metadata else {}, 0, []
    for name, tensor in tensors.items():
        raw = tensor.reshape(-1).view(torch.uint8) if tensor.numel() else torch.empty(0, dtype=torch.uint8)
        if sys.byteorder == "big" and tensor.element_size() > 1:
            raw = raw.view(-1, tensor.element_size()).flip(1).reshape(-1)
        data = ctypes.string_at(raw.data_ptr(), raw.numel())  # the tensor's bytes, without needing numpy
        header[name] = {"dtype": NAMES[tensor.dtype], "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        chunks.append(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in chunks:
            f.write(data)
