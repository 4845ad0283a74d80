#!/bin/bash
# Packs what `bench/device/run.sh` needs on a lent GPU machine, which has no package registry and no Node:
# .devpack/ (git-ignored, ~30 MB: with the tracked tree's ~32 MB, under the device tool's 64 MiB) holds this machine's Node binary and Dawn's
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
mkdir -p .devpack/gl
(cd .devpack/gl && apt-get download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null 2>&1) ||
  echo 'pack.sh: apt-get download of the Vulkan loader and glvnd failed: run.sh then needs them on the GPU machine' >&2
du -sh .devpack
