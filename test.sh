#!/bin/sh
# test.sh - sets up, builds and runs every test: the normal build, the kernel
# and batching tests built with clang, the ARM kernels under qemu, then the
# whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
set -eu
cd "$(dirname "$0")"
./scripts/setup.sh
jobs=$( (nproc || sysctl -n hw.ncpu) 2>/dev/null || echo 2)
./scripts/build.sh build -DHEARTH_WERROR=ON
(cd build && ctest --output-on-failure -j "$jobs")
# The kernels promise the same bits for every batch size, which rests on how
# the compiler contracts float expressions: check them under clang too.
if [ ! -f build-clang/CMakeCache.txt ]; then
  CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release -DHEARTH_WERROR=ON >/dev/null
fi
cmake --build build-clang -j "$jobs" --target test_kernels test_packed test_vnni_emu test_batch test_reference >/dev/null
(cd build-clang && ctest --output-on-failure -j "$jobs" -R '^(test_kernels|test_packed|test_vnni_emu|test_batch|test_reference)$')
./scripts/test-arm.sh
./scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEARTH_SANITIZE=ON -DHEARTH_WERROR=ON
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j "$jobs")
