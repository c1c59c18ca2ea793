#!/bin/sh
# build.sh [BUILD_DIR] [cmake args...] - configures (once) and builds hearth.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build}
[ $# -gt 0 ] && shift
jobs=$( (nproc || sysctl -n hw.ncpu) 2>/dev/null || echo 2)
if [ ! -f "$dir/CMakeCache.txt" ]; then
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
fi
cmake --build "$dir" -j "$jobs" >/dev/null
