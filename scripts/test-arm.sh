#!/bin/sh
# test-arm.sh - builds tests/test_kernels for aarch64 with the cross compiler
# and runs it under qemu user-mode emulation: once on a CPU with dotprod and
# i8mm (-cpu max, where the i8mm level must be selected and its SMMLA tiles
# tested), once on a Cortex-A53 (plain NEON) and once capped to scalar. Installs the cross compiler and qemu with apt-get
# when they are missing. The test links without jansson: it is compiled
# directly from the few sources it needs, with no CMake toolchain.
# Env: HEARTH_TEST_ITERS (random trials per case, default 2 here).
set -eu
cd "$(dirname "$0")/.."

if [ "$(uname -s)" != Linux ]; then
  echo "test-arm.sh: needs Linux (apt-get, qemu-user); skipped on $(uname -s)" >&2
  exit 0
fi

case "$(uname -m)" in
  aarch64 | arm64)
    echo "test-arm.sh: native aarch64: test_kernels already runs in ctest"
    exit 0
    ;;
esac

cc=aarch64-linux-gnu-gcc
need=""
command -v "$cc" >/dev/null 2>&1 || need="$need gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
command -v qemu-aarch64 >/dev/null 2>&1 || command -v qemu-aarch64-static >/dev/null 2>&1 || need="$need qemu-user"
if [ -n "$need" ]; then
  echo "test-arm.sh: installing$need"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $need >/dev/null
fi
qemu=qemu-aarch64
command -v "$qemu" >/dev/null 2>&1 || qemu=qemu-aarch64-static

out=${HEARTH_ARM_BUILD:-build-arm}
mkdir -p "$out"
flags="-std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Wall -Wextra -Werror -Iinclude -Isrc -Itests"
objs=""
for f in src/engine/kernels/arm/*_neon.c; do
  [ -e "$f" ] || continue
  o="$out/$(basename "$f" .c).o"
  $cc $flags -c "$f" -o "$o"
  objs="$objs $o"
done
for f in src/engine/kernels/arm/*_dotprod.c; do
  [ -e "$f" ] || continue
  o="$out/$(basename "$f" .c).o"
  $cc $flags -march=armv8.2-a+dotprod+fp16 -c "$f" -o "$o"
  objs="$objs $o"
done
for f in src/engine/kernels/arm/*_i8mm.c; do
  [ -e "$f" ] || continue
  o="$out/$(basename "$f" .c).o"
  $cc $flags -march=armv8.6-a+dotprod+i8mm+fp16 -c "$f" -o "$o"
  objs="$objs $o"
done
# shellcheck disable=SC2086
$cc $flags -o "$out/test_kernels" tests/test_kernels.c src/base/*.c src/engine/quant.c src/engine/types.c \
  src/engine/kernels/ref/*.c src/engine/kernels/cpu.c src/engine/kernels/dispatch.c $objs -lm -lpthread

iters=${HEARTH_TEST_ITERS:-2}
echo "test-arm.sh: qemu -cpu max (dotprod, i8mm)"
# The test checks the selected level itself (HEARTH_TEST_EXPECT_ISA); the
# grep makes sure the i8mm level was also run with its tile kernels.
log="$out/test_kernels-max.log"
rc=0
HEARTH_TEST_ITERS=$iters HEARTH_TEST_EXPECT_ISA=neon-i8mm \
  "$qemu" -cpu max -L /usr/aarch64-linux-gnu "$out/test_kernels" >"$log" 2>&1 || rc=$?
cat "$log"
[ "$rc" -eq 0 ] || exit "$rc"
if ! grep -q '^path i8mm .*gemm kernels' "$log" || ! grep -q 'selected: i8mm (neon-i8mm)' "$log"; then
  echo "test-arm.sh: -cpu max did not select and test the i8mm level" >&2
  exit 1
fi
echo "test-arm.sh: qemu -cpu max, HEARTH_ISA=dotprod cap"
HEARTH_TEST_ITERS=1 HEARTH_ISA=dotprod HEARTH_TEST_EXPECT_ISA=neon-dotprod \
  "$qemu" -cpu max -L /usr/aarch64-linux-gnu "$out/test_kernels"
echo "test-arm.sh: qemu -cpu cortex-a53 (plain NEON)"
HEARTH_TEST_ITERS=$iters HEARTH_TEST_EXPECT_ISA=neon \
  "$qemu" -cpu cortex-a53 -L /usr/aarch64-linux-gnu "$out/test_kernels"
echo "test-arm.sh: HEARTH_ISA=scalar cap"
HEARTH_TEST_ITERS=1 HEARTH_ISA=scalar HEARTH_TEST_EXPECT_ISA=scalar \
  "$qemu" -cpu max -L /usr/aarch64-linux-gnu "$out/test_kernels"
