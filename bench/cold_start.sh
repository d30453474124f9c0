#!/usr/bin/env bash
# What a user waits for (issue 23 items 4 and 6): `latent txt2img "a cat" --seed 1` end to end (process start, engine,
# loading, ONNX Runtime's sessions, 30 steps, PNG), wall time and peak resident memory from /usr/bin/time, per
# --runtime, first with an empty cache folder (export + graph optimisation, and auto's one-off probe), then warm (the
# optimised models and the runtime decision read from the cache). Then the --timings breakdown of the last warm
# auto run. Under two minutes on our 2 cores; run it on a quiet machine, with a warm disk (run it twice).
#   bash bench/cold_start.sh [warm runs=3] [model=weights/emoji-64] [extra latent options...]
# Ends with one line: "cold start summary: ..." against the targets (1.5 s wall, 450 MB).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
warm="${1:-3}"; model="$(realpath -m "${2:-$root/weights/emoji-64}")"; shift $(( $# > 2 ? 2 : $# ))
"$root/latent" --help >/dev/null    # builds the CLI when a source changed, outside the timings
bin="$root/artifacts/bin/Latent.Cli/release_linux-x64/latent"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

rows=()
for runtime in auto onnxruntime libtorch; do
  export LATENT_CACHE_DIR="$work/cache-$runtime"
  for ((i = 0; i <= warm; i++)); do
    state=$([ "$i" -eq 0 ] && echo "cold cache" || echo "warm")
    /usr/bin/time -f "%e %M" -o "$work/time" "$bin" txt2img "a cat" --seed 1 --model "$model" --runtime "$runtime" \
      --out "$work/out-$runtime-$i.png" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
    read -r wall rss <"$work/time"
    rows+=("$runtime|$state|$wall|$((rss / 1024))")
  done
done

echo "latent txt2img \"a cat\" --seed 1 --model $model $*: wall and peak RSS per run (/usr/bin/time), $(nproc) cores"
echo
echo "| --runtime | cache | wall s | peak RSS MB |"
echo "|---|---|---:|---:|"
for r in "${rows[@]}"; do IFS='|' read -r a b c d <<<"$r"; echo "| $a | $b | $c | $d |"; done
echo
echo "where the last warm auto run spent its time (--timings):"
LATENT_CACHE_DIR="$work/cache-auto" "$bin" txt2img "a cat" --seed 1 --model "$model" --out "$work/t.png" --timings "$@" 2>&1 >/dev/null | sed 's/^timing: /  /'
printf '%s\n' "${rows[@]}" | python3 -c '
import statistics, sys
rows = [l.strip().split("|") for l in sys.stdin if l.strip()]
parts = []
for rt in ("auto", "onnxruntime", "libtorch"):
    w = [float(r[2]) for r in rows if r[0] == rt and r[1] == "warm"]
    m = [int(r[3]) for r in rows if r[0] == rt and r[1] == "warm"]
    c = [float(r[2]) for r in rows if r[0] == rt and r[1] != "warm"]
    parts.append(f"{rt} warm {statistics.median(w):.2f} s / {max(m)} MB (cold {c[0]:.2f} s)")
print("\ncold start summary: " + "; ".join(parts) + " (targets: 1.5 s, 450 MB)")'
