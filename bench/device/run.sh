#!/bin/bash
# Runs on a lent GPU machine (the device tool) from the repo root, with .devpack carried (bench/device/pack.sh):
# WebGPU in Node through Dawn on the GPU (Vulkan), the benchmark's workloads with stock vs project kernels,
# and the PyTorch reference on the same GPU. After every step, $OUT/results.tgz holds every JSON result and log so
# far (the device tool returns at most 8 files), so a run cut off by its time limit still returns what finished.
# Usage: bash bench/device/run.sh [SECONDS_FOR_W1_STOCK]   (environment: OUT, default /tmp/bench-out)
set -u
OUT=${OUT:-/tmp/bench-out}; mkdir -p "$OUT"
R=/tmp/bench-results; rm -rf "$R"; mkdir -p "$R"
W1_STOCK_SECONDS=${1:-120}
P=.devpack; BIN=/tmp/devbin; mkdir -p "$BIN"
save() { tar czf "$OUT/results.tgz" -C "$R" .; }
trap save EXIT
step() { save; echo; echo "=== $* ($(date +%T))"; }

# xz may be missing from a bare image; Python's lzma reads the same files
unxz() { if command -v xz >/dev/null; then xz -dc "$1" > "$2"; else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi; }

step setup
unxz $P/node.xz $BIN/node && chmod +x $BIN/node || { echo 'no node'; exit 2; }
mkdir -p $P/app/node_modules/webgpu/dist/linux-x64
unxz $P/dawn.node.xz $P/app/node_modules/webgpu/dist/linux-x64/dawn.node || { echo 'no dawn.node'; exit 2; }
unxz $P/app/bench.mjs.xz $P/app/bench.mjs || { echo 'no bench.mjs'; exit 2; }
if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
  dpkg -x $P/libvulkan1_*.deb / && ldconfig
fi
ICD=$(ls /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd*.json /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json 2>/dev/null | head -1)
[ -n "$ICD" ] || ICD=$(find / -name 'nvidia_icd*.json' -not -path '/proc/*' 2>/dev/null | head -1)
if [ -n "$ICD" ]; then export VK_ICD_FILENAMES=$ICD; fi
[ -d /usr/local/nvidia/lib64 ] && export LD_LIBRARY_PATH=/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}
echo "node $($BIN/node --version); VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-unset}"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv 2>&1 | tee "$R/gpu.txt"
BENCH="$BIN/node --max-old-space-size=16384 $P/app/bench.mjs --backend webgpu"

step 'webgpu check (W3 quick: is the adapter a GPU?)'
timeout 45 $BENCH --quick --workload W3 --kernels project 2>&1 | tee "$R/webgpu-check.log" | tail -8
if [ -z "${ALLOW_SWIFTSHADER:-}" ] && grep -qi swiftshader "$R/webgpu-check.log" || ! grep -q 'webgpu:' "$R/webgpu-check.log"; then
  echo 'run.sh: Dawn did not get the GPU (see webgpu-check.log); stopping before the timed runs'; exit 3
fi

step 'PyTorch reference on the GPU: eager fp32 (TF32 off), then TF32 on (W1)'
timeout 75 python3 bench/pytorch_reference.py --device cuda > "$R/pytorch-cuda-fp32.json" 2> "$R/pytorch.err"; tail -3 "$R/pytorch.err"
timeout 30 python3 bench/pytorch_reference.py --device cuda --allow-tf32 --workload W1 > "$R/pytorch-cuda-tf32.json" 2>> "$R/pytorch.err"
python3 - "$R" <<'PY'
import json, sys
for name in ('pytorch-cuda-fp32', 'pytorch-cuda-tf32'):
    try:
        d = json.load(open(f'{sys.argv[1]}/{name}.json'))
        print(name, d['device'], d['torch'], [(r['workload'], round(r['throughput'], 1), r['unit']) for r in d['results']])
    except Exception as e:
        print(name, 'failed:', e)
PY

step 'webgpu W4, W3 (stock vs project)'
timeout 70 $BENCH --workload W4,W3 --json "$R/webgpu-w3w4.json" > "$R/webgpu-w3w4.log" 2>&1; tail -12 "$R/webgpu-w3w4.log"
step 'webgpu W2 (stock vs project, profiled)'
timeout 120 $BENCH --workload W2 --warmup 1 --repeats 3 --steps 1 --profile --json "$R/webgpu-w2.json" > "$R/webgpu-w2.log" 2>&1; tail -40 "$R/webgpu-w2.log"
# W1: project kernels first (profiled), then stock in a second process, so a slow stock run cannot cost the project number
step 'webgpu W1, project kernels (profiled)'
timeout 100 $BENCH --workload W1 --kernels project --warmup 1 --repeats 3 --steps 1 --profile --json "$R/webgpu-w1-project.json" > "$R/webgpu-w1-project.log" 2>&1; tail -36 "$R/webgpu-w1-project.log"
step 'webgpu W1, stock kernels'
timeout "$W1_STOCK_SECONDS" $BENCH --workload W1 --kernels stock --warmup 1 --repeats 2 --steps 1 --json "$R/webgpu-w1-stock.json" > "$R/webgpu-w1-stock.log" 2>&1; tail -8 "$R/webgpu-w1-stock.log"
step done
