#!/usr/bin/env bash
# The main job: installs what is missing, builds, and reproduces the paper's studies
# (Figs. 6-8) with the built-in defaults into results/ (or the folder given).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo run --release -- reproduce -o "${1:-results}"
