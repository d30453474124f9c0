#!/usr/bin/env bash
# U-Net training-step throughput: TorchSharp (bench/UNetTrain) against Debian's python3-torch (bench/unet_train.py), the
# same architecture (UNetConfig.Default, 22.6M parameters) on [B, 4, 16, 16] latents with [B, 77, 256] context, fp32;
# TorchSharp also with bf16 compute on fp32 master weights (train unet --mixed-precision bf16, docs/training/mixed-precision.md).
#   bash bench/unet_train.sh [rounds=3] [threads=cores] [batches=16,32] [iterations=5] [precisions=fp32,bf16]
# The engines alternate `rounds` times; the table shows the median samples/s over rounds and the ratios
# TorchSharp / PyTorch fp32 (above 1: TorchSharp is faster).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:-3}"; threads="${2:-$(nproc)}"; batches="${3:-16,32}"; iterations="${4:-5}"; precisions="${5:-fp32,bf16}"

bash "$root/bench/setup-pytorch.sh"
dotnet build "$root/bench/UNetTrain/Latent.Bench.UNetTrain.csproj" -c Release --artifacts-path "$root/artifacts" -nologo -v quiet >/dev/null
cs="$root/artifacts/bin/Latent.Bench.UNetTrain/release_linux-x64/latent-bench-unet-train"

out="$(mktemp)"
for ((r = 1; r <= rounds; r++)); do
  for precision in ${precisions//,/ }; do "$cs" "$threads" "$batches" "$iterations" "$precision" >>"$out"; done
  # Pinned as measured on our machines: OpenBLAS's own threads fight PyTorch's pool (2.3x slower unpinned).
  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$root/bench/unet_train.py" "$threads" "$batches" "$iterations" >>"$out"
done

/usr/bin/python3 - "$out" "$rounds" "$threads" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
import torch
params = {r["impl"]: r["params"] for r in rows}
print(f"U-Net fwd+bwd, PyTorch fp32 {torch.__version__} (Debian python3-torch), {sys.argv[3]} threads, median of {sys.argv[2]} alternated rounds")
print(f"parameters: TorchSharp {params.get('torchsharp')}, PyTorch {params.get('pytorch')}\n")
ours = [i for i in ("torchsharp", "torchsharp-bf16") if any(r["impl"] == i for r in rows)]
names = {"torchsharp": "TorchSharp fp32", "torchsharp-bf16": "TorchSharp bf16 compute"}
print("| batch | PyTorch fp32 samples/s | " + " | ".join(f"{names[i]} samples/s | {names[i]} / PyTorch" for i in ours) + " |")
print("|---:|---:|" + "---:|---:|" * len(ours))
for b in sorted({r["batch"] for r in rows}):
    med = lambda impl: statistics.median(r["samples_per_s"] for r in rows if r["impl"] == impl and r["batch"] == b)
    p = med("pytorch")
    print(f"| {b} | {p:.1f} | " + " | ".join(f"{med(i):.1f} | {med(i) / p:.2f}x" for i in ours) + " |")
PY
rm -f "$out"
