#!/usr/bin/env bash
# Install what building and testing mba needs, only when it is missing:
# cmake and libclang-dev (the `highs` crate builds HiGHS from C++), and Mesa's Vulkan drivers
# (lavapipe, a software Vulkan on which the GPU tests run when there is no GPU).
set -euo pipefail

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
if ! ls /usr/lib/llvm-*/lib/libclang.so* /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1; then
  missing+=(libclang-dev)
fi
if ! ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1; then
  missing+=(mesa-vulkan-drivers)
fi
if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1; then
  missing+=(libvulkan1)
fi

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]} with apt-get" >&2
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "setup: need root (or sudo) to install: ${missing[*]}. Install them, then rerun." >&2
      exit 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: no apt-get here; install these packages yourself: ${missing[*]}" >&2
    exit 1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo (Rust) is not installed; see https://rustup.rs" >&2
  exit 1
fi
