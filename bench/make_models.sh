#!/bin/sh
# make_models.sh [OUTDIR] - builds the random-weight benchmark models.
#
#   tinyllama-1.1b-{f16,q4_0,q8_0,q4_k_m}.gguf  TinyLlama-1.1B's shape (the F16
#       is drawn by synth_gguf.py, the others are `hearth quantize`d from it)
#   llama-7b-q4_0.gguf  Llama-2-7B's shape, Q4_0 blocks drawn directly
#       (~3.8 GB; skipped when less than 20 GB of disk is free)
#
# Weights are random: speed does not depend on their values. Models that
# already exist are kept. Needs /usr/bin/python3 with numpy (Debian:
# python3-numpy) and the shared test data ($HEARTH_TEST_DATA, default
# ../shared next to the repository). Env: HEARTH (the hearth binary, default
# build/hearth), QUANT_THREADS (default: physical cores).
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/bench/models}
data=${HEARTH_TEST_DATA:-$repo/../shared}
synth=$data/tools/synth_gguf.py
vocab=$data/tokenizer/llama-spm.gguf
hearth=${HEARTH:-$repo/build/hearth}
py=/usr/bin/python3

for f in "$synth" "$vocab"; do
  [ -f "$f" ] || { echo "make_models: missing $f (set HEARTH_TEST_DATA)" >&2; exit 1; }
done
"$py" -c 'import numpy' 2>/dev/null || {
  echo "make_models: $py has no numpy (Debian: apt-get install python3-numpy)" >&2; exit 1; }
mkdir -p "$out"

# free_gb DIR: whole gigabytes free on DIR's file system
free_gb() { df -Pk "$1" | awk 'NR == 2 { print int($4 / 1048576) }'; }

# synth NAME TYPE ARGS...: draws one model unless it exists (tmp + rename, so
# an interrupted run leaves no half file behind)
synth() {
  name=$1 type=$2
  shift 2
  if [ -f "$out/$name" ]; then echo "have  $out/$name"; return 0; fi
  echo "synth $out/$name"
  "$py" "$synth" --arch llama --vocab-from "$vocab" --type "$type" --name "${name%.gguf}" \
    --out "$out/$name.tmp" "$@"
  mv "$out/$name.tmp" "$out/$name"
}

small="--embd 2048 --layers 22 --heads 32 --heads-kv 4 --ff 5632"
big="--embd 4096 --layers 32 --heads 32 --heads-kv 32 --ff 11008"

# shellcheck disable=SC2086
synth tinyllama-1.1b-f16.gguf f16 $small
for t in q4_0 q8_0 q4_k_m; do
  name=tinyllama-1.1b-$t.gguf
  if [ -f "$out/$name" ]; then echo "have  $out/$name"; continue; fi
  if [ -x "$hearth" ] && "$hearth" quantize --help >/dev/null 2>&1; then
    echo "quant $out/$name"
    "$hearth" quantize -q ${QUANT_THREADS:+-t "$QUANT_THREADS"} "$out/tinyllama-1.1b-f16.gguf" "$out/$name" \
      "$(echo "$t" | tr a-z A-Z)"
  elif [ "$t" != q4_k_m ]; then
    # no quantizer: draw the blocks directly
    # shellcheck disable=SC2086
    synth "$name" "$t" $small
  else
    echo "skip  $out/$name: needs hearth quantize ($hearth)"
  fi
done

if [ -f "$out/llama-7b-q4_0.gguf" ]; then
  echo "have  $out/llama-7b-q4_0.gguf"
elif [ "$(free_gb "$out")" -lt 20 ]; then
  echo "skip  $out/llama-7b-q4_0.gguf: only $(free_gb "$out") GB free, want 20"
else
  # shellcheck disable=SC2086
  synth llama-7b-q4_0.gguf q4_0 $big
fi
