#!/usr/bin/env bash
# Memory of one `latent serve` replica over many requests (issue 22, item 2: "memory stays flat over 1,000 requests"):
# a warm-up load, then its resident memory after each further load of the same size, from /proc. Each load is
# bench/ServeLoad's (every answer checked to be the client's own image).
#   bash bench/serve_memory.sh [REQUESTS per load=250] [LOADS after the warm-up=4] [STEPS=2] [MODEL=weights/emoji-64]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requests="${1:-250}"; loads="${2:-4}"; steps="${3:-2}"; model="${4:-$root/weights/emoji-64}"
work="$(mktemp -d /tmp/latent-serve-memory.XXXXXX)"
"$root/latent" --help >/dev/null                      # builds the CLI once
dotnet build "$root/bench/ServeLoad" -c Release -v q -nologo >/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$root/latent" serve --model "$model" --port "$port" --threads 1 --queue 64 > "$work/replica.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do kill -0 $pid 2>/dev/null || { cat "$work/replica.log"; exit 1; }; sleep 0.5; done
load() { dotnet "$root/bench/ServeLoad/bin/Release/net10.0/linux-x64/latent-bench-serve-load.dll" "http://127.0.0.1:$port/" "$requests" 4 "$steps" | head -1; }
rss() { awk '/VmRSS/ { printf "%.1f MB", $2 / 1024 }' "/proc/$pid/status"; }
load; echo "after the warm-up ($requests requests): RSS $(rss)"
for i in $(seq 1 "$loads"); do load; echo "after $((i * requests)) more requests: RSS $(rss)"; done
