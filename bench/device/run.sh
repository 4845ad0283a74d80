#!/bin/bash
# Runs on a GPU machine without Node or a package registry, from the repo root with .devpack (bench/device/pack.sh):
# WebGPU in Node through Dawn on the GPU (Vulkan), the benchmark's workloads with stock vs project kernels,
# and the PyTorch reference on the same GPU. After every step, $OUT/results-<script>.tgz holds every JSON result and log so
# far (one archive, for hosts that return only a few files), so a run cut off by its time limit keeps what finished.
# Last, the learning-quality pair (npm run parity on the carried CIFAR-10 records: engine on WebGPU, PyTorch on CUDA).
# Usage: bash bench/device/run.sh [SECONDS_FOR_W1_STOCK]   (environment: OUT, default /tmp/bench-out;
#        SKIP_PYTORCH=1 leaves the PyTorch reference out; LEARNING_EPOCHS (3), LEARNING_SECONDS (150))
set -u
W1_STOCK_SECONDS=${1:-120}
LEARNING_EPOCHS=${LEARNING_EPOCHS:-3}; LEARNING_SECONDS=${LEARNING_SECONDS:-150}

source bench/device/setup.sh

step 'webgpu check (W3 quick: is the adapter a GPU?)'
timeout 45 $BENCH --quick --workload W3 --kernels project 2>&1 | tee "$R/webgpu-check.log" | tail -8
if [ -z "${ALLOW_SWIFTSHADER:-}" ] && grep -qi swiftshader "$R/webgpu-check.log" || ! grep -q 'webgpu:' "$R/webgpu-check.log"; then
  echo 'run.sh: Dawn did not get the GPU (see webgpu-check.log); the Vulkan loader says:'
  (cd $P/app && VK_LOADER_DEBUG=error,warn,driver timeout 20 $BIN/node -e "import('webgpu').then(async (d) => { const a = await d.create([]).requestAdapter(); console.log('adapter', a && a.info); })" 2>&1 | tail -25)
  ldd /usr/local/nvidia/lib64/libGLX_nvidia.so.0 2>&1 | grep -i 'not found\|GLdispatch'
  exit 3
fi

if [ -z "${SKIP_PYTORCH:-}" ]; then
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
fi

step 'webgpu W4, W3 (stock vs project)'
timeout 70 $BENCH --workload W4,W3 --json "$R/webgpu-w3w4.json" > "$R/webgpu-w3w4.log" 2>&1; tail -12 "$R/webgpu-w3w4.log"
step 'webgpu W2 (stock vs project, profiled)'
timeout 120 $BENCH --workload W2 --warmup 1 --repeats 3 --steps 1 --profile --json "$R/webgpu-w2.json" > "$R/webgpu-w2.log" 2>&1; tail -40 "$R/webgpu-w2.log"
# W1: project kernels first (profiled), then stock in a second process, so a slow stock run cannot cost the project number
step 'webgpu W1, project kernels (profiled)'
timeout 100 $BENCH --workload W1 --kernels project --warmup 1 --repeats 3 --steps 1 --profile --json "$R/webgpu-w1-project.json" > "$R/webgpu-w1-project.log" 2>&1; tail -36 "$R/webgpu-w1-project.log"
step 'webgpu W1, stock kernels'
timeout "$W1_STOCK_SECONDS" $BENCH --workload W1 --kernels stock --warmup 1 --repeats 2 --steps 1 --json "$R/webgpu-w1-stock.json" > "$R/webgpu-w1-stock.log" 2>&1; tail -8 "$R/webgpu-w1-stock.log"
if [ -n "${CIFAR:-}" ] && [ -f $P/app/parity.mjs ]; then
# The learning-quality pair: one SimCLR recipe (resnet-small, projector without BatchNorm, batch 256, Adam 1e-3,
# NT-Xent tau 0.5, SimCLR CIFAR augmentations, kNN k=200 T=0.1 on normalised backbone features over the carried
# test images), the engine on WebGPU against the PyTorch reference on CUDA (fp32), kNN after every epoch.
step "learning pair: engine (webgpu) vs PyTorch (cuda), $LEARNING_EPOCHS epochs on $(( $(stat -c %s $CIFAR/data_batch_1.bin) / 3073 )) CIFAR-10 images"
TRAIN=$(( $(stat -c %s $CIFAR/data_batch_1.bin) / 3073 )); TEST=$(( $(stat -c %s $CIFAR/test_batch.bin) / 3073 ))
timeout "$LEARNING_SECONDS" $BIN/node --max-old-space-size=16384 $P/app/parity.mjs --config examples/simclr-cifar10.json \
  --data-dir $CIFAR --backend webgpu --device cuda --python python3 --epochs "$LEARNING_EPOCHS" --out "$R/learning" \
  --set 'projector={"layers":2,"hidden":512,"out":128,"batchNorm":false}' --set 'optimizer={"type":"adam","lr":0.001}' \
  --set 'schedule={"type":"constant"}' --set "dataset.trainLimit=$TRAIN" --set "eval.size=$TEST" \
  --set "eval.bankSize=$TRAIN" --set eval.knnK=200 --set eval.knnTemperature=0.1 \
  > "$R/learning.log" 2>&1; tail -30 "$R/learning.log"
fi
step done
