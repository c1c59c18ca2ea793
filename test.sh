#!/bin/sh
# test.sh - sets up, builds and runs every test: the normal build, then the
# whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
set -eu
cd "$(dirname "$0")"
./scripts/setup.sh
jobs=$( (nproc || sysctl -n hw.ncpu) 2>/dev/null || echo 2)
./scripts/build.sh build -DHEARTH_WERROR=ON
(cd build && ctest --output-on-failure -j "$jobs")
./scripts/test-arm.sh
./scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEARTH_SANITIZE=ON -DHEARTH_WERROR=ON
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j "$jobs")
