#!/usr/bin/env bash
# Builds both targets: build/ (native: shared, webhookd, tests) and build-web/ (WebAssembly:
# shared, the console, the same shared tests). Incremental: re-running only rebuilds changes.
# Usage: scripts/build.sh [native|web|all]
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
jobs=$(nproc)

if [ "$what" = all ] || [ "$what" = native ]; then
  # -g1 (line tables, what perf and sanitizer stacks use) instead of -g: the same code, compiled
  # faster.
  [ -f build/build.ninja ] || cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" >/dev/null
  cmake --build build -j "$jobs"
fi
if [ "$what" = all ] || [ "$what" = web ]; then
  [ -f build-web/build.ninja ] || cmake -S . -B build-web -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE="$PWD/emsdk-toolchain.cmake" >/dev/null
  cmake --build build-web -j "$jobs"
fi
