#!/usr/bin/env bash
# GPU check on a machine with a GPU but no Rust toolchain (docs/gpu.md).
#
# Usage: scripts/gpu-check.sh [MBA_BIN] [GPU_TEST_BIN] [BENCH_ARGS...]
#   MBA_BIN       the release CLI (default: target/release/mba)
#   GPU_TEST_BIN  the tests/gpu.rs test binary (default: newest target/release/deps/gpu-*)
#   BENCH_ARGS    extra `mba bench` flags, e.g. --realizations 4194304
#
# Build both where Rust is installed, then carry them over:
#   cargo build --release && cargo test --release --test gpu --no-run
#   (the test binary path is printed: target/release/deps/gpu-<hash>)
# The script prints the adapter(s), runs every GPU test (kernels vs CPU twins vs the f64
# reference; a missing adapter is a failure, never a skip), then
# `mba bench --backend both --json` (CPU and GPU realizations/s side by side, kernel times from
# timestamp queries when supported). Exit status: that of the tests, else of the bench.
set -u
cd "$(dirname "$0")/.."
MBA=${1:-target/release/mba}
TESTBIN=${2:-$(ls -t target/release/deps/gpu-* 2>/dev/null | grep -v '\.d$' | head -n 1)}
shift $(( $# > 2 ? 2 : $# ))
for f in "$MBA" "$TESTBIN"; do
    if [ ! -x "$f" ]; then
        echo "gpu-check: missing executable '$f' (see the usage at the top of $0)" >&2
        exit 2
    fi
done
echo "== machine"
uname -a
nproc
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
command -v vulkaninfo >/dev/null && vulkaninfo --summary 2>/dev/null | grep -E "deviceName|deviceType|driverName" || true
echo "== GPU tests: $TESTBIN"
"$TESTBIN" --nocapture --test-threads=1
tests=$?
echo "== bench: $MBA bench --backend both --json $*"
"$MBA" bench --backend both --json "$@"
bench=$?
echo "== tests exit $tests, bench exit $bench"
[ "$tests" -ne 0 ] && exit "$tests"
exit "$bench"
