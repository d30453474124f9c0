#!/usr/bin/env bash
# Side-by-side per-op benchmark: TorchSharp (bench/Ops) against Debian's python3-torch (bench/ops.py), in one run.
#   bash bench/ops.sh [rounds=5] [threads=cores] [scale=1]
# The two engines alternate `rounds` times; each reports the median per-call time of every op; the table shows the
# median over rounds and the ratio TorchSharp / PyTorch (below 1: TorchSharp is faster).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:-5}"; threads="${2:-$(nproc)}"; scale="${3:-1}"

bash "$root/bench/setup-pytorch.sh"
dotnet build "$root/bench/Ops/Latent.Bench.Ops.csproj" -c Release --artifacts-path "$root/artifacts" -nologo -v quiet >/dev/null
cs="$root/artifacts/bin/Latent.Bench.Ops/release_linux-x64/latent-bench-ops"

out="$(mktemp)"
for ((r = 1; r <= rounds; r++)); do
  "$cs" "$threads" "$scale" >>"$out"
  # Pinned as measured on our machines: OpenBLAS's own threads fight PyTorch's pool (2.3x slower unpinned).
  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$root/bench/ops.py" "$threads" "$scale" >>"$out"
done

/usr/bin/python3 - "$out" "$rounds" "$threads" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
import torch
ops = list(dict.fromkeys(r["op"] for r in rows))
med = lambda impl, op: statistics.median(r["us"] for r in rows if r["impl"] == impl and r["op"] == op)
print(f"PyTorch {torch.__version__} (Debian python3-torch), {sys.argv[3]} threads, median of {sys.argv[2]} alternated rounds\n")
print("| op | PyTorch | TorchSharp | TorchSharp / PyTorch |")
print("|---|---:|---:|---:|")
for op in ops:
    p, t = med("pytorch", op), med("torchsharp", op)
    fmt = lambda us: f"{us:.2f} us" if us < 1000 else f"{us / 1000:.2f} ms"
    print(f"| {op} | {fmt(p)} | {fmt(t)} | {t / p:.2f}x |")
PY
rm -f "$out"
