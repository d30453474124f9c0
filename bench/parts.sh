#!/usr/bin/env bash
# Per-part speed and distance to the limit (issue 23 item 1): one text-encoder call [1, 77], one guided U-Net step
# [2, 4, 16, 16] and one VAE decode [1, 4, 16, 16] of a pipeline folder on each engine (LibTorch fp32 with and without
# the attention cache, LibTorch bf16 where it is accurate, ONNX Runtime fp32), with each part's FLOPs (ModelFlops) and
# achieved GFLOPS next to the peak of latent doctor's conv2d/matmul probes. Under a minute on our 2 cores.
#   bash bench/parts.sh [threads=cores] [model=weights/emoji-64] [calls=15]
# Ends with one line: "parts summary: ..." (the fastest engine per part). Run it on a quiet machine.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
threads="${1:-$(nproc)}"; model="$(realpath -m "${2:-$root/weights/emoji-64}")"; calls="${3:-15}"
artifacts="${LATENT_BENCH_ARTIFACTS:-$root/artifacts}"
# LATENT_ORT_VERSION=1.31.1 (with its own LATENT_BENCH_ARTIFACTS folder) builds against another ONNX Runtime to compare.
dotnet build "$root/bench/Txt2Img/Latent.Bench.Txt2Img.csproj" -c Release --artifacts-path "$artifacts" -nologo -v quiet \
  ${LATENT_ORT_VERSION:+-p:LatentOnnxRuntimeVersion=$LATENT_ORT_VERSION} >/dev/null
exec "$artifacts/bin/Latent.Bench.Txt2Img/release_linux-x64/latent-bench-txt2img" --parts "$calls" --model "$model" --threads "$threads"
