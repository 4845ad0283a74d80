#!/bin/bash
# Packs what `bench/device/run.sh` needs on a GPU machine that has no package registry and no Node:
# .devpack/ (git-ignored, ~30 MB; with the tracked tree's ~33 MB it stays under a 64 MiB transfer) holds the local Node binary and Dawn's
# dawn.node (xz), the benchmark bundled into one file by esbuild, and Debian's Vulkan loader and glvnd.
# Usage (repo root, after npm ci): bash bench/device/pack.sh; then run bench/device/run.sh there, carrying .devpack.
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.devpack/' .git/info/exclude 2>/dev/null || echo '/.devpack/' >> .git/info/exclude
rm -rf .devpack && mkdir -p .devpack/app/node_modules/webgpu
xz -T0 -9e -c "$(command -v node)" > .devpack/node.xz
xz -T0 -6 -c node_modules/webgpu/dist/linux-x64/dawn.node > .devpack/dawn.node.xz
cp node_modules/webgpu/index.js node_modules/webgpu/package.json .devpack/app/node_modules/webgpu/
# one ESM file; require() for the CommonJS parts (tfjs-backend-wasm's loader); Dawn stays a native module
npx esbuild src/cli/bench.ts --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --outfile=.devpack/app/bench.mjs --external:webgpu --external:vite --external:playwright-core \
  --banner:js="import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"
xz -T0 -9 .devpack/app/bench.mjs
# the learning-quality pair (npm run parity, engine on WebGPU against PyTorch on CUDA), bundled the same way
npx esbuild src/cli/parity.ts --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --outfile=.devpack/app/parity.mjs --external:webgpu --external:vite --external:playwright-core \
  --banner:js="import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"
xz -T0 -9 .devpack/app/parity.mjs
mkdir -p .devpack/gl
(cd .devpack/gl && apt-get download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null 2>&1) ||
  echo 'pack.sh: apt-get download of the Vulkan loader and glvnd failed: run.sh then needs them on the GPU machine' >&2
# CIFAR-10 for the pair: as many of the first training and test records (3073 bytes each, so a cut file is a
# valid CIFAR-10 binary) as a 64 MiB transfer leaves beside the tracked tree and the rest of .devpack.
CIFAR=${CIFAR_DIR:-public/datasets/cifar10}
if [ -f "$CIFAR/data_batch_1.bin" ] && [ -f "$CIFAR/test_batch.bin" ]; then
  tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
  packed=$(du -sb .devpack | cut -f1)
  room=$(( 64 * 1024 * 1024 - tree - packed - 2 * 1024 * 1024 ))  # 2 MiB spare
  # xz keeps about 0.9 of CIFAR's bytes; 4 training records for every test record
  records=$(( room * 10 / 9 / 3073 ))
  train=$(( records * 4 / 5 )); test=$(( records / 5 ))
  [ "$test" -gt 2000 ] && test=2000 && train=$(( records - test ))
  [ "$train" -gt 10000 ] && train=10000
  if [ "$train" -ge 512 ]; then
    mkdir -p .devpack/cifar10
    head -c $(( train * 3073 )) "$CIFAR/data_batch_1.bin" | xz -T0 -9 > .devpack/cifar10/data_batch_1.bin.xz
    head -c $(( test * 3073 )) "$CIFAR/test_batch.bin" | xz -T0 -9 > .devpack/cifar10/test_batch.bin.xz
    echo "pack.sh: CIFAR-10 for the learning pair: $train training and $test test images"
  else
    echo "pack.sh: no room for CIFAR-10 beside the tree ($tree bytes) and .devpack ($packed bytes): the learning pair is skipped" >&2
  fi
else
  echo "pack.sh: no CIFAR-10 at $CIFAR (set CIFAR_DIR): the learning pair is skipped" >&2
fi
du -sh .devpack
