#!/usr/bin/env bash
# The test command: installs what is missing, then runs every test in release mode.
# GPU tests run on any Vulkan adapter, lavapipe included; set MBA_SKIP_GPU=1 to skip them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Mesa's Vulkan loader warns on every adapter probe when this is unset (harmless; quiet it).
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  XDG_RUNTIME_DIR=$(mktemp -d)
  export XDG_RUNTIME_DIR
fi
cargo test --release "$@"
