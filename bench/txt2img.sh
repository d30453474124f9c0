#!/usr/bin/env bash
# Text-to-image seconds per image: our pipeline (bench/Txt2Img: StableDiffusionPipeline.Generate) against Debian's
# python3-torch (bench/txt2img.py: the same text encoder, U-Net and VAE in plain torch, same DDIM + CFG loop), on the
# architecture of a pipeline folder, 30 DDIM steps with guidance 7.5, fp32 and bf16 (the U-Net's dtype), batch 1 and 4;
# our U-Net on LibTorch (fp32, bf16) and on ONNX Runtime (fp32, PipelineOptions.Runtime).
#   bash bench/txt2img.sh [rounds=3] [threads=cores] [model=weights/emoji-64] [calls=5] [steps=30]
# `bash bench/txt2img.sh 1 2` (one round) takes about 3 minutes on our 2 cores; it ends with a "txt2img summary:" line.
# The engines alternate `rounds` times; each round reports, per dtype and batch, the median of `calls` timed calls
# after one warm-up call. The table shows the median over rounds per image and the speed-up PyTorch / ours (above 1:
# ours is faster); targets (issue 12): under 1 s per image, at least 1.5x. Both sides print their parameter counts and
# a hash of every parameter's key and shape per model; the script stops if they differ.
# A folder with random weights and the shipped architecture (enough for speed) is made by
#   artifacts/bin/Latent.Bench.Txt2Img/release_linux-x64/latent-bench-txt2img --make-random DIR
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:-3}"; threads="${2:-$(nproc)}"; model="$(realpath -m "${3:-$root/weights/emoji-64}")"; calls="${4:-5}"; steps="${5:-30}"
artifacts="${LATENT_BENCH_ARTIFACTS:-$root/artifacts}"   # where the C# side is built (override for parallel builds)
cs="$artifacts/bin/Latent.Bench.Txt2Img/release_linux-x64/latent-bench-txt2img"

bash "$root/bench/setup-pytorch.sh"
# LATENT_ORT_VERSION=1.31.1 (with its own LATENT_BENCH_ARTIFACTS folder) builds against another ONNX Runtime to compare.
dotnet build "$root/bench/Txt2Img/Latent.Bench.Txt2Img.csproj" -c Release --artifacts-path "$artifacts" -nologo -v quiet \
  ${LATENT_ORT_VERSION:+-p:LatentOnnxRuntimeVersion=$LATENT_ORT_VERSION} >/dev/null
if [ ! -f "$model/model_index.json" ]; then
  echo "bench: no pipeline folder at $model (model_index.json missing); train one, or make a random one with: $cs --make-random DIR" >&2
  exit 1
fi

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
args=(--model "$model" --threads "$threads" --calls "$calls" --steps "$steps")
for ((r = 1; r <= rounds; r++)); do
  echo "bench: round $r/$rounds" >&2
  "$cs" "${args[@]}" >>"$out"
  # Pinned as in bench/ops.sh: OpenBLAS's own threads fight PyTorch's pool (2.3x slower unpinned).
  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$root/bench/txt2img.py" "${args[@]}" >>"$out"
done

/usr/bin/python3 - "$out" "$rounds" "$threads" "$calls" "$steps" "$model" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
import torch
seen = {(r["impl"], json.dumps(r["params"], sort_keys=True), json.dumps(r["arch"], sort_keys=True)) for r in rows}
if len({(p, a) for _, p, a in seen}) != 1:
    sys.exit(f"bench: parameter counts or key/shape fingerprints differ: {sorted(seen)}; not the same architecture")
params = rows[0]["params"]
rt = lambda r: r.get("runtime", "-")
med = lambda impl, d, b, u="-": statistics.median(r["seconds_per_image"] for r in rows if r["impl"] == impl and r["dtype"] == d and r["batch"] == b and (impl == "pytorch" or rt(r) == u))
print(f"txt2img {sys.argv[6]}: {sys.argv[5]} DDIM steps, CFG 7.5 (batched [uncond; cond] U-Net calls), text encoding + "
      f"denoising + VAE decode; PyTorch {torch.__version__} (Debian python3-torch, OpenBLAS pinned to 1 thread) vs ours "
      f"(TorchSharp; the U-Net on LibTorch or ONNX Runtime), {sys.argv[3]} threads, median of {sys.argv[4]} calls after 1 warm-up, "
      f"median of {sys.argv[2]} alternated rounds")
print("parameters (both sides): " + ", ".join(f"{k} {v:,}" for k, v in params.items()) + "\n")
print("| our U-Net engine | dtype | batch | PyTorch s/image | ours s/image | speed-up (PyTorch / ours) | ours < 1 s | speed-up >= 1.5x |")
print("|---|---|---:|---:|---:|---:|:-:|:-:|")
ours = list(dict.fromkeys((rt(r), r["dtype"], r["batch"]) for r in rows if r["impl"] == "torchsharp"))
for u, d, b in ours:
    p, o = med("pytorch", d, b), med("torchsharp", d, b, u)
    print(f"| {u} | {d} | {b} | {p:.3f} | {o:.3f} | {p / o:.2f}x | {'yes' if o < 1 else 'no'} | {'yes' if p / o >= 1.5 else 'no'} |")
summary = []
for b in dict.fromkeys(b for _, _, b in ours):
    p, pd = min((med("pytorch", d, bb), d) for _, d, bb in ours if bb == b)
    o, ou, od = min((med("torchsharp", d, bb, u), u, d) for u, d, bb in ours if bb == b)
    print(f"\nbatch {b}, best of each: PyTorch {pd} {p:.3f} s/image, ours {ou} {od} {o:.3f} s/image: {p / o:.2f}x", end="")
    pf = med("pytorch", "fp32", b)
    summary.append(f"batch {b}: ours best {o:.3f} s/image ({ou} {od}), {pf / o:.2f}x PyTorch fp32")
print()
print("\ntxt2img summary: " + "; ".join(summary) + " (issue 23 targets at batch 1: <= 0.45 s/image, >= 3.5x)")
PY
