#!/usr/bin/env bash
# GPU check on a machine with a GPU but no Rust toolchain (docs/performance.md#measuring-mba-bench).
#
# Usage:
#   scripts/gpu-check.sh prepare            where Rust is: build the CLI and the GPU test
#                                           binaries into target/gpu-check/ (about 45 MB)
#   scripts/gpu-check.sh [BENCH_ARGS...]    on the GPU machine, from the repository root
#
# The check prints the machine and its adapter(s); runs every GPU test (kernels vs CPU twins vs
# the f64 reference, the device reduction vs the CPU's; a missing adapter is a failure, never a
# skip) and the CPU-vs-GPU study test; then `mba bench --backend both --json` (CPU and GPU
# realizations/s side by side: end to end with the device reduction, kernel-only from
# timestamp queries, and the per-realization readback path), and `mba bench --backend gpu` at
# 2^24 realizations per call (several chunks per call, so upload, compute and readback
# overlap; MBA_CHECK_LARGE=R changes that size, e.g. for a dry run on lavapipe). BENCH_ARGS go
# to the first bench. Where $OUT is set (the device tool), the log and both JSON reports are
# written there. About 2 minutes on one H200 (not yet timed there).
#
# With the device tool, after `scripts/gpu-check.sh prepare` here:
#   run(command="scripts/gpu-check.sh", carry=["target/gpu-check"], timeout_s=540)
# Exit status: the first failing step's (tests, study test, bench), else 0.
set -u
cd "$(dirname "$0")/.."
BIN=target/gpu-check

if [ "${1:-}" = prepare ]; then
    set -e
    cargo build --release
    mkdir -p "$BIN"
    cp target/release/mba "$BIN/mba"
    built=$(cargo test --release --test gpu --test study --no-run 2>&1 | tee /dev/stderr)
    for t in gpu study; do
        exe=$(printf '%s\n' "$built" | grep -o "target/release/deps/$t-[0-9a-f]*" | tail -n 1)
        cp "$exe" "$BIN/$t-tests"
    done
    ls -l "$BIN"
    exit 0
fi

for f in "$BIN/mba" "$BIN/gpu-tests" "$BIN/study-tests"; do
    if [ ! -x "$f" ]; then
        echo "gpu-check: missing '$f': run 'scripts/gpu-check.sh prepare' where Rust is" >&2
        exit 2
    fi
done
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
# The device tool's NVIDIA machines keep the Vulkan ICD here; a loader carried as .gl/*.deb
# (docs of the device tool) is unpacked when the system has none.
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ] && export VK_DRIVER_FILES=$icd
if ! ldconfig -p 2>/dev/null | grep -q libvulkan && ls .gl/*.deb >/dev/null 2>&1; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
fi
OUT=${OUT:-}
log() { if [ -n "$OUT" ]; then tee -a "$OUT/gpu-check.log"; else cat; fi; }
status=0
step() {
    local name=$1
    shift
    echo "== $name: $*" | log
    "$@" 2>&1 | log
    local rc=${PIPESTATUS[0]}
    echo "== $name exit $rc" | log
    [ "$status" -eq 0 ] && status=$rc
    return 0
}
bench() {
    local json=$1
    shift
    echo "== bench: mba bench $* --json" | log
    "$BIN/mba" bench "$@" --json >"${OUT:-/tmp}/$json"
    local rc=$?
    log <"${OUT:-/tmp}/$json"
    echo "== bench exit $rc" | log
    [ "$status" -eq 0 ] && status=$rc
}

{
    uname -a
    nproc
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    command -v vulkaninfo >/dev/null && vulkaninfo --summary 2>/dev/null | grep -E "deviceName|deviceType|driverName"
    true
} 2>&1 | log
step "GPU tests" "$BIN/gpu-tests" --nocapture --test-threads=1
step "study on both backends" "$BIN/study-tests" cpu_and_gpu_backends --nocapture
bench bench-both.json --backend both "$@"
bench bench-gpu-large.json --backend gpu --realizations "${MBA_CHECK_LARGE:-16777216}"
echo "== gpu-check exit $status" | log
exit "$status"
