#!/bin/bash
# Where does a webgpu training step spend its wall time on a GPU? Runs on a GPU machine like run.sh:
# W2 (project kernels) under Node's CPU profiler while nvidia-smi samples GPU utilisation. Results (the
# .cpuprofile, logs, JSON) in $OUT/results-profile.tgz. Tried once on an H200: tfjs flags
# WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=1000 and WEBGPU_CPU_FORWARD=false changed nothing (bench --flags).
# Usage: bash bench/device/profile.sh
set -u
source bench/device/setup.sh
W2="--workload W2 --kernels project --warmup 1 --repeats 3 --steps 1"

step 'W2 project: CPU profile + GPU utilisation'
nvidia-smi dmon -s u -d 1 -o T > "$R/dmon.txt" 2>&1 &
DMON=$!
timeout 90 $BIN/node --cpu-prof --cpu-prof-dir="$R" --max-old-space-size=16384 $P/app/bench.mjs --backend webgpu $W2 --json "$R/w2-prof.json" > "$R/w2-prof.log" 2>&1
kill $DMON; grep -E 'iteration|W2 ' "$R/w2-prof.log"; cat "$R/dmon.txt"

step done
