#!/bin/sh
# run.sh [MODELDIR] - builds hearth, makes the benchmark models and prints the
# speed targets table.
#
#   1.1B Q4_0, Q8_0, Q4_K_M: pp512 and tg128 per thread count, with the memory
#       bandwidth decode ceiling and tg as % of it
#   7B Q4_0: tg, time to first token of a 32-token prompt, load time with the
#       file in the page cache, peak RSS against weights + KV cache + 10%
#
# Env: BUILD_DIR (default build), HEARTH (a hearth binary to use instead of
# building one), THREADS (default 1,2), REPS (default 5),
# REPS_7B (default 3), N_GEN_7B (tg length for 7B, default 128), OUT (where
# the raw JSON lines go, default MODELDIR/results.jsonl).
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
models=${1:-$repo/bench/models}
build=${BUILD_DIR:-build}
threads=${THREADS:-1,2}
reps=${REPS:-5}
reps7=${REPS_7B:-3}
ngen7=${N_GEN_7B:-128}

if [ -n "${HEARTH:-}" ]; then
  hearth=$HEARTH
else
  "$repo/scripts/build.sh" "$build"
  case $build in /*) hearth=$build/hearth ;; *) hearth=$repo/$build/hearth ;; esac
fi
HEARTH=$hearth "$repo/bench/make_models.sh" "$models"

out=${OUT:-$models/results.jsonl}
: >"$out"
echo
echo "hearth bench, threads $threads, $reps repetitions (1.1B) / $reps7 (7B); raw results: $out"

# bench MODEL ARGS...: one benchmark, its JSON lines appended to $out and
# echoed for the log
bench() {
  m=$1
  shift
  if [ ! -f "$models/$m" ]; then
    echo "skip $m: not built"
    return 0
  fi
  echo "== $m $*" >&2
  "$hearth" bench -m "$models/$m" -t "$threads" --membw --json "$@" | tee -a "$out" >&2
}

for t in q4_0 q8_0 q4_k_m; do
  bench "tinyllama-1.1b-$t.gguf" -p 512 -n 128 -r "$reps"
done

big=llama-7b-q4_0.gguf
bench "$big" -p 0 -n "$ngen7" -r "$reps7" --ttft 32
if [ -f "$models/$big" ]; then
  # load time with the file in the page cache: read it once, then time a
  # bench that only loads (-p 0 -n 0); its "load" line comes last in $out
  cat "$models/$big" >/dev/null
  "$hearth" bench -m "$models/$big" -p 0 -n 0 -t "$threads" --json >/dev/null
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "7B process start to exit (load only): %e s wall, %M KiB max RSS" \
      "$hearth" bench -m "$models/$big" -p 0 -n 0 -t "${threads%%,*}" --json >>"$out"
  else
    "$hearth" bench -m "$models/$big" -p 0 -n 0 -t "${threads%%,*}" --json >>"$out"
  fi
fi

echo
/usr/bin/python3 "$repo/bench/summarize.py" "$out"
