#!/usr/bin/env bash
# ONNX Runtime's reduced-precision paths (issue 23 item 3): the U-Net with int8 linear layers (--onnx-int8) against
# float32, one guided call [2, 4, 16, 16], alternated every round, with the int8 noise prediction's relative error; and
# whether ONNX Runtime's CPU provider runs a float16 / bfloat16 Conv and MatMul at all, and how fast. A minute or two on
# our 2 cores; ends with one line "onnx precision summary: ...".
#   bash bench/onnx_precision.sh [rounds=4] [threads=cores] [model=weights/emoji-64] [calls=15]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:-4}"; threads="${2:-$(nproc)}"; model="$(realpath -m "${3:-$root/weights/emoji-64}")"; calls="${4:-15}"
artifacts="${LATENT_BENCH_ARTIFACTS:-$root/artifacts}"
dotnet build "$root/bench/Txt2Img/Latent.Bench.Txt2Img.csproj" -c Release --artifacts-path "$artifacts" -nologo -v quiet >/dev/null
exec "$artifacts/bin/Latent.Bench.Txt2Img/release_linux-x64/latent-bench-txt2img" --onnx-precision "$rounds" --calls "$calls" --model "$model" --threads "$threads"
