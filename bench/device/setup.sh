# Sourced by bench/device/*.sh on the GPU machine (repo root, .devpack carried): unpacks Node, Dawn and the
# bundled benchmark, installs the Vulkan loader and glvnd, points Vulkan at the NVIDIA driver, and sets
# BIN (Node's folder), BENCH (the benchmark on webgpu) and R (the results folder, tarred into
# $OUT/results-<script>.tgz by save). Several scripts can run in one call: each keeps its own results.
OUT=${OUT:-/tmp/bench-out}; mkdir -p "$OUT"
NAME=$(basename "$0" .sh)
R=/tmp/bench-results-$NAME; rm -rf "$R"; mkdir -p "$R"
P=.devpack; BIN=/tmp/devbin; mkdir -p "$BIN"
save() { tar czf "$OUT/results-$NAME.tgz" -C "$R" .; }
trap save EXIT
step() { save; echo; echo "=== $* ($(date +%T))"; }
# xz may be missing from a bare image; Python's lzma reads the same files
unxz() { if command -v xz >/dev/null; then xz -dc "$1" > "$2"; else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi; }

step setup
unxz $P/node.xz $BIN/node && chmod +x $BIN/node || { echo 'no node'; exit 2; }
mkdir -p $P/app/node_modules/webgpu/dist/linux-x64
unxz $P/dawn.node.xz $P/app/node_modules/webgpu/dist/linux-x64/dawn.node || { echo 'no dawn.node'; exit 2; }
unxz $P/app/bench.mjs.xz $P/app/bench.mjs || { echo 'no bench.mjs'; exit 2; }
[ -f $P/app/parity.mjs.xz ] && unxz $P/app/parity.mjs.xz $P/app/parity.mjs
if [ -f $P/cifar10/data_batch_1.bin.xz ]; then
  CIFAR=/tmp/cifar10; mkdir -p $CIFAR
  unxz $P/cifar10/data_batch_1.bin.xz $CIFAR/data_batch_1.bin && unxz $P/cifar10/test_batch.bin.xz $CIFAR/test_batch.bin
fi
# Debian's Vulkan loader and glvnd (the NVIDIA ICD, libGLX_nvidia, needs glvnd to hand out vkCreateInstance)
for f in $P/gl/*.deb; do dpkg -x "$f" /; done; ldconfig
ICD=$(ls /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd*.json /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json 2>/dev/null | head -1)
[ -n "$ICD" ] || ICD=$(find / -name 'nvidia_icd*.json' -not -path '/proc/*' 2>/dev/null | head -1)
if [ -n "$ICD" ]; then export VK_ICD_FILENAMES=$ICD; fi
[ -n "$ICD" ] && export VK_DRIVER_FILES=$ICD
EGL_VENDOR=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[ -f $EGL_VENDOR ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$EGL_VENDOR
[ -d /usr/local/nvidia/lib64 ] && export LD_LIBRARY_PATH=/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}
echo "node $($BIN/node --version); VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-unset}"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv 2>&1 | tee "$R/gpu.txt"
BENCH="$BIN/node --max-old-space-size=16384 $P/app/bench.mjs --backend webgpu"
