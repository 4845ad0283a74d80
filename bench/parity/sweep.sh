#!/usr/bin/env bash
# The ablation of README "Learning parity with PyTorch": each framework choice flipped alone on the engine, then
# the PyTorch reference with its own defaults and with the engine's, on the first 10,000 CIFAR-10 training images.
# Logs and parity.json files go to bench/results/parity/<name>/ (git-ignored).
# Usage: [SEEDS=0,1] [EPOCHS=3] [EVAL_SIZE=10000] bash bench/parity/sweep.sh engine|torch [DATA_DIR]
set -u
side=$1
data=${2:-public/datasets/cifar10}
common=(--config bench/parity/issue21.json --data-dir "$data" --epochs "${EPOCHS:-3}" --seeds "${SEEDS:-0,1}"
  --set dataset.trainLimit=10000 --set eval.size="${EVAL_SIZE:-10000}" --set eval.bankSize=10000 --threads 2)
run() {
  local name=$1; shift
  mkdir -p "bench/results/parity/$name"
  echo "== $name $(date +%T)"
  timeout "${RUN_TIMEOUT:-7200}" npx tsx src/cli/parity.ts "${common[@]}" --out "bench/results/parity/$name" "$@" \
    > "bench/results/parity/$name/table.txt" 2> "bench/results/parity/$name/log.txt"
  echo "   exit $? $(date +%T)"
}
if [ "$side" = engine ]; then
  run engine-defaults --only engine
  run engine-all-torch --only engine --set nn.init='"torch"' --set nn.padding='"symmetric"' \
    --set nn.batchNormViews='"per-view"' --set dataset.standardize='"none"'
  run engine-init-tfjs --only engine --set nn.init='"tfjs"'
  run engine-padding-symmetric --only engine --set nn.padding='"symmetric"'
  run engine-bn-per-view --only engine --set nn.batchNormViews='"per-view"'
  run engine-standardize-none --only engine --set dataset.standardize='"none"'
else
  run torch-plain --only torch --torch-preset plain
  run torch-engine-defaults --only torch
fi
