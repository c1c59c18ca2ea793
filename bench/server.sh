#!/bin/sh
# server.sh - benchmarks of `hearth serve` with bench_loadgen (bench/loadgen.c).
#
#   (a) short chat requests (8 generated tokens, EOS banned) with stories260K
#       on one engine thread (-t 1), at 1 / 8 / 32 connections: requests/s
#   (b) aggregate decode tokens/s on the TinyLlama-1.1B-shape Q4_0 model,
#       2 threads, 64-token streamed answers at 1 / 4 / 16 concurrent streams
#   (c) time to first token p50 / p99 under the load of (b)
#   (d) TTFT of a chat with a ~500-token system prompt: first request (cold)
#       and a second one with the same system prompt (prompt cache)
#
# Each point of (a) runs REPS times (default 3), of (b) REPS_1B times
# (default 1), and the best run is kept (other jobs may share the cores).
# For scale, (b) also runs `hearth bench` (single-sequence decode, same
# model and threads) right before the server. Prints a table and appends JSON lines
# to $OUT (default bench/models/server-results.jsonl).
#
# Env: HEARTH (default build/hearth), LOADGEN (default build/bench_loadgen),
# HEARTH_TEST_DATA (default ../shared), MODEL_1B (default
# bench/models/tinyllama-1.1b-q4_0.gguf, built by make_models.sh when
# missing), REPS, N_SHORT (requests per point in (a), default 400), ONLY
# (the sections to run, default "a b d").
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
data=${HEARTH_TEST_DATA:-$repo/../shared}
hearth=${HEARTH:-$repo/build/hearth}
loadgen=${LOADGEN:-$repo/build/bench_loadgen}
small=$data/models/stories260K.gguf
big=${MODEL_1B:-$repo/bench/models/tinyllama-1.1b-q4_0.gguf}
reps=${REPS:-3}
n_short=${N_SHORT:-400}
out=${OUT:-$repo/bench/models/server-results.jsonl}
only=${ONLY:-a b d}
want() { case " $only " in *" $1 "*) return 0 ;; esac; return 1; }
rps_1=-; rps_8=-; rps_32=-; lat_1=-; lat_8=-; lat_32=-
tps_1=-; tps_4=-; tps_16=-; t50_1=-; t50_4=-; t50_16=-; t99_1=-; t99_4=-; t99_16=-
cold_m=-; warm_m=-; ptok=-; cached=-; eng=

for f in "$hearth" "$loadgen"; do
  [ -x "$f" ] || { echo "server.sh: $f missing (cmake --build build --target hearth bench_loadgen)" >&2; exit 1; }
done
[ -f "$small" ] || { echo "server.sh: $small missing (set HEARTH_TEST_DATA)" >&2; exit 1; }
if [ ! -f "$big" ]; then
  HEARTH=$hearth "$repo/bench/make_models.sh" "$(dirname "$big")"
fi
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM

# start MODEL ARGS...: starts hearth serve, sets $pid and $port
start() {
  m=$1; shift
  "$hearth" serve -m "$m" --port 0 "$@" 2>"$tmp/log" &
  pid=$!
  i=0
  port=
  while [ -z "$port" ]; do
    port=$(sed -n 's/.*listening on http:\/\/[^ ]*:\([0-9]*\).*/\1/p' "$tmp/log")
    i=$((i + 1))
    if [ $i -gt 1200 ] || ! kill -0 "$pid" 2>/dev/null; then
      echo "server.sh: hearth serve did not start:" >&2; cat "$tmp/log" >&2; exit 1
    fi
    [ -n "$port" ] || sleep 0.1
  done
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

# field NAME < json: one numeric field of a loadgen JSON line
field() { sed -n "s/.*\"$1\":\([-0-9.]*\).*/\1/p"; }

# best TAG KEY LOADGEN-ARGS...: runs loadgen REPS times, keeps the line with
# the largest KEY, appends it (tagged) to $out, prints it
best() {
  tag=$1; key=$2; shift 2
  bestv=-1; bestl=
  r=0
  while [ $r -lt "$reps" ]; do
    l=$("$loadgen" --port "$port" --json "$@") || { echo "server.sh: loadgen failed: $l" >&2; exit 1; }
    v=$(echo "$l" | field "$key")
    if awk "BEGIN{exit !($v > $bestv)}"; then bestv=$v; bestl=$l; fi
    r=$((r + 1))
  done
  echo "{\"bench\":\"$tag\",${bestl#\{}" >>"$out"
  echo "$bestl"
}

if want a; then
echo "== (a) short chat requests: stories260K, -t 1, 8 tokens each (best of $reps)"
start "$small" -t 1 --parallel 32 --max-queue 64
for c in 1 8 32; do
  l=$(best "short_c$c" req_per_s -c $c -n "$n_short" --warmup 20 --no-eos --max-tokens 8)
  eval "rps_$c=$(echo "$l" | field req_per_s); lat_$c=$(echo "$l" | field latency_p50_ms)"
done
stop
fi

if want b; then
echo "== (b, c) 1.1B Q4_0, -t 2, 64-token streamed answers"
eng=$("$hearth" bench -m "$big" -p 16 -n 64 -t 2 -r 2 --json 2>/dev/null | sed -n 's/.*"test":"tg64".*"avg_ts":\([0-9.]*\).*/\1/p')
reps_a=$reps
reps=${REPS_1B:-1}
start "$big" -t 2 --parallel 16 -c 512 --max-queue 64
for c in 1 4 16; do
  l=$(best "decode_c$c" gen_tok_per_s -c $c -n $((c * 2)) --warmup 1 --stream --no-eos --max-tokens 64)
  eval "tps_$c=$(echo "$l" | field gen_tok_per_s); t50_$c=$(echo "$l" | field ttft_p50_ms); t99_$c=$(echo "$l" | field ttft_p99_ms)"
done
stop
reps=$reps_a
fi

if want d; then
echo "== (d) TTFT with a ~500-token system prompt, cold vs prompt cache"
words="the little girl named Lily loved to play in the garden with her brown dog and her friends from school"
: >"$tmp/system"
i=0
while [ $i -lt 13 ]; do
  printf 'Rule %d: when you tell a story, remember that %s. ' "$i" "$words" >>"$tmp/system"
  i=$((i + 1))
done
start "$big" -t 2 --parallel 1 -c 1024
cold=; warm=; ptok=
for k in 1 2 3; do
  printf 'Session %d. ' "$k" >"$tmp/sys$k"
  cat "$tmp/system" >>"$tmp/sys$k"
  lc=$("$loadgen" --port "$port" --json -c 1 -n 1 --stream --max-tokens 4 --system-file "$tmp/sys$k" --user "Hello $k")
  lw=$("$loadgen" --port "$port" --json -c 1 -n 1 --stream --max-tokens 4 --system-file "$tmp/sys$k" --user "Again $k")
  echo "{\"bench\":\"ttft_cold\",${lc#\{}" >>"$out"
  echo "{\"bench\":\"ttft_cached\",${lw#\{}" >>"$out"
  cold="$cold $(echo "$lc" | field ttft_p50_ms)"
  warm="$warm $(echo "$lw" | field ttft_p50_ms)"
  ptok=$(echo "$lc" | field prompt_tokens_per_req)
  cached=$(echo "$lw" | field cached_tokens_per_req)
done
stop
med() { echo "$@" | tr ' ' '\n' | sed '/^$/d' | sort -n | sed -n 2p; }
cold_m=$(med $cold); warm_m=$(med $warm)
fi

echo
echo "| benchmark | 1 | 8 | 32 |"
echo "|---|---|---|---|"
echo "| (a) stories260K chat, 8 tokens, -t 1: req/s | $rps_1 | $rps_8 | $rps_32 |"
echo "| (a) latency p50 ms | $lat_1 | $lat_8 | $lat_32 |"
echo
echo "| benchmark | 1 stream | 4 streams | 16 streams |"
echo "|---|---|---|---|"
echo "| (b) 1.1B Q4_0, -t 2, 64-token answers: aggregate tok/s | $tps_1 | $tps_4 | $tps_16 |"
echo "| (b) for scale: hearth bench tg64, one sequence, -t 2 | ${eng:-?} | | |"
echo "| (c) TTFT p50 ms | $t50_1 | $t50_4 | $t50_16 |"
echo "| (c) TTFT p99 ms | $t99_1 | $t99_4 | $t99_16 |"
echo
echo "| (d) 1.1B Q4_0, $ptok-token prompt | TTFT ms (median of 3) |"
echo "|---|---|"
echo "| first request (cold) | $cold_m |"
echo "| same system prompt again ($cached tokens cached) | $warm_m |"
