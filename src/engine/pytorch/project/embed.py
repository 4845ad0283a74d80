#!/usr/bin/env python3
"""Embeds the first test images with the exported encoder, in the files of the playground's embedding export.

    python embed.py [--weights model.safetensors] [--data-dir DIR] [--count 2000] [--out embeddings]

Writes vectors.tsv (the backbone features h, one image a line, tab-separated), projections.tsv (the projector
outputs z) and metadata.tsv (label and class name), for the first --count images of the dataset's test split.
"""

import argparse
import os

import torch

import data
from model import load_pretrained


def tsv(rows):
    return "".join("\t".join(f"{v:.6g}" for v in row) + "\n" for row in rows.tolist())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default="model.safetensors", help="the exported model (default model.safetensors)")
    parser.add_argument("--data-dir", help="the dataset's files (default: data/<dataset id>); not needed for 'synthetic'")
    parser.add_argument("--count", type=int, default=2000, help="number of test images (default 2000)")
    parser.add_argument("--out", default="embeddings", help="output folder (default embeddings)")
    args = parser.parse_args()

    encoder, config, _ = load_pretrained(args.weights)
    dataset = data.open_dataset(config, args.data_dir or os.path.join("data", config["dataset"]["id"]))
    dataset = data.apply_target(dataset, config["dataset"], config["seed"])  # the rotated images of 'rotation'
    pixels = dataset.test.images[: args.count]
    labels = dataset.test.labels[: args.count]
    hs, zs = [], []
    with torch.no_grad():
        for start in range(0, len(pixels), 256):
            h, z = encoder(pixels[start : start + 256])
            hs.append(h)
            zs.append(z)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "vectors.tsv"), "w") as f:
        f.write(tsv(torch.cat(hs)))
    with open(os.path.join(args.out, "projections.tsv"), "w") as f:
        f.write(tsv(torch.cat(zs)))
    with open(os.path.join(args.out, "metadata.tsv"), "w") as f:
        f.write("label\tclass\n")
        for label in labels.tolist():
            name = dataset.classes[label] if label < len(dataset.classes) else str(label)
            f.write(f"{label}\t{name.replace(chr(9), ' ')}\n")
    print(f"wrote {len(labels)} embeddings to {args.out}/vectors.tsv, projections.tsv, metadata.tsv")


if __name__ == "__main__":
    main()
