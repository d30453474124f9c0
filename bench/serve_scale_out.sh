#!/usr/bin/env bash
# Scale-out of `latent serve` (issue 22, item 4): two replicas on loopback ports behind Debian's nginx (least_conn),
# driven by bench/ServeLoad with a bounded load; reports throughput, p50/p95 latency and that no request was lost or
# answered twice (the client checks every image is its own and every request id distinct; the replicas' logs must
# hold exactly one txt2img line per request between them), and each replica's resident memory before and after.
#   bash bench/serve_scale_out.sh [REQUESTS=200] [CONCURRENCY=8] [STEPS=10] [THREADS per replica=1] [MODEL=weights/emoji-64]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requests="${1:-200}"; concurrency="${2:-8}"; steps="${3:-10}"; threads="${4:-1}"; model="${5:-$root/weights/emoji-64}"
bash "$root/scripts/setup.sh" --scale-out
work="$(mktemp -d /tmp/latent-scale-out.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill -QUIT "$(cat "$work/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

"$root/latent" --help >/dev/null                      # builds the CLI once
dotnet build "$root/bench/ServeLoad" -c Release -v q -nologo >/dev/null

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ports=()
for r in 1 2; do
  port=$(free_port); ports+=("$port")
  "$root/latent" serve --model "$model" --port "$port" --threads "$threads" --queue 64 > "$work/replica$r.log" 2>&1 &
  pids+=($!)
done
for r in 0 1; do
  until curl -sf "http://127.0.0.1:${ports[$r]}/health" >/dev/null; do
    kill -0 "${pids[$r]}" 2>/dev/null || { cat "$work/replica$((r + 1)).log"; exit 1; }
    sleep 0.5
  done
done

lb=$(free_port)
mkdir -p "$work/nginx"; chmod 777 "$work" "$work/nginx"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 256; }
http {
  access_log $work/nginx-access.log;
  client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy; fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
  upstream latent { least_conn; server 127.0.0.1:${ports[0]}; server 127.0.0.1:${ports[1]}; keepalive 16; }
  server {
    listen 127.0.0.1:$lb;
    client_max_body_size 16m;
    location / {
      proxy_pass http://latent;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout 600s;
      proxy_next_upstream off;                     # a request goes to one replica only: never run twice
      add_header X-Upstream \$upstream_addr always;
    }
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work"
rss() { awk '/VmRSS/ { printf "%.0f MB", $2 / 1024 }' "/proc/$1/status"; }
# Warm-up: one request per replica (ONNX Runtime's first run), then the measured load.
for port in "${ports[@]}"; do curl -sf -o /dev/null "http://127.0.0.1:$port/sdapi/v1/txt2img" -H 'Content-Type: application/json' -d "{\"prompt\": \"warm-up\", \"steps\": $steps}"; done
echo "replicas on ports ${ports[*]} ($threads engine thread(s) each), nginx on $lb; RSS after warm-up: $(rss "${pids[0]}"), $(rss "${pids[1]}")"
status=0
dotnet "$root/bench/ServeLoad/bin/Release/net10.0/linux-x64/latent-bench-serve-load.dll" "http://127.0.0.1:$lb/" "$requests" "$concurrency" "$steps" || status=$?
echo "RSS after the load: $(rss "${pids[0]}"), $(rss "${pids[1]}")"
lines=$(cat "$work"/replica*.log | grep -c 'POST /sdapi/v1/txt2img 200' || true)
echo "replica log lines for answered txt2img requests: $lines (expected $requests + 2 warm-up)"
[ "$lines" -eq $((requests + 2)) ] || status=1
exit $status
