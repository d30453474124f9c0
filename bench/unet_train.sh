#!/usr/bin/env bash
# U-Net training-step throughput: TorchSharp (bench/UNetTrain) against Debian's python3-torch (bench/unet_train.py), the
# same architecture (UNetConfig.Default, 22.6M parameters) on [B, 4, 16, 16] latents with [B, 77, 256] context, fp32.
#   bash bench/unet_train.sh [rounds=3] [threads=cores] [batches=16,32] [iterations=5]
# The engines alternate `rounds` times; the table shows the median samples/s over rounds and the ratio
# TorchSharp / PyTorch (above 1: TorchSharp is faster).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:-3}"; threads="${2:-$(nproc)}"; batches="${3:-16,32}"; iterations="${4:-5}"

bash "$root/bench/setup-pytorch.sh"
dotnet build "$root/bench/UNetTrain/Latent.Bench.UNetTrain.csproj" -c Release --artifacts-path "$root/artifacts" -nologo -v quiet >/dev/null
cs="$root/artifacts/bin/Latent.Bench.UNetTrain/release_linux-x64/latent-bench-unet-train"

out="$(mktemp)"
for ((r = 1; r <= rounds; r++)); do
  "$cs" "$threads" "$batches" "$iterations" >>"$out"
  # Pinned as measured on our machines: OpenBLAS's own threads fight PyTorch's pool (2.3x slower unpinned).
  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$root/bench/unet_train.py" "$threads" "$batches" "$iterations" >>"$out"
done

/usr/bin/python3 - "$out" "$rounds" "$threads" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
import torch
params = {r["impl"]: r["params"] for r in rows}
print(f"U-Net fwd+bwd, fp32, PyTorch {torch.__version__} (Debian python3-torch), {sys.argv[3]} threads, median of {sys.argv[2]} alternated rounds")
print(f"parameters: TorchSharp {params.get('torchsharp')}, PyTorch {params.get('pytorch')}\n")
print("| batch | PyTorch samples/s | TorchSharp samples/s | TorchSharp / PyTorch |")
print("|---:|---:|---:|---:|")
for b in sorted({r["batch"] for r in rows}):
    med = lambda impl: statistics.median(r["samples_per_s"] for r in rows if r["impl"] == impl and r["batch"] == b)
    p, t = med("pytorch"), med("torchsharp")
    print(f"| {b} | {p:.1f} | {t:.1f} | {t / p:.2f}x |")
PY
rm -f "$out"
