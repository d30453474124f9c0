#!/usr/bin/env bash
# VAE training throughput, our code (bench/VaeTrain: VaeTrainer.TrainStep) against Debian's python3-torch
# (bench/vae_train.py: the same AutoencoderKL and step written in PyTorch), in one run.
#   bash bench/vae_train.sh [presets=light,default] [rounds=3] [steps=20] [threads=cores] [batch=16]
# For each preset the two engines alternate `rounds` times; each round reports the median step time over `steps`
# steps after 3 warm-up steps. The table shows the median over rounds as samples/s and the ratio ours / PyTorch
# (above 1: ours trains faster). Both sides print their parameter count and a hash of every parameter's key and
# shape; the script stops if they differ.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
presets="${1:-light,default}"; rounds="${2:-3}"; steps="${3:-20}"; threads="${4:-$(nproc)}"; batch="${5:-16}"
warmup="${LATENT_BENCH_WARMUP:-3}"                        # warm-up steps per process
artifacts="${LATENT_BENCH_ARTIFACTS:-$root/artifacts}"   # where the C# side is built (override for parallel builds)

bash "$root/bench/setup-pytorch.sh"
dotnet build "$root/bench/VaeTrain/Latent.Bench.VaeTrain.csproj" -c Release --artifacts-path "$artifacts" -nologo -v quiet >/dev/null
cs="$artifacts/bin/Latent.Bench.VaeTrain/release_linux-x64/latent-bench-vae-train"

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
for preset in ${presets//,/ }; do
  for ((r = 1; r <= rounds; r++)); do
    echo "bench: $preset round $r/$rounds" >&2
    "$cs" "$preset" "$threads" "$steps" "$warmup" "$batch" >>"$out"
    # Pinned as in bench/ops.sh: OpenBLAS's own threads fight PyTorch's pool (2.3x slower unpinned).
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$root/bench/vae_train.py" "$preset" "$threads" "$steps" "$warmup" "$batch" >>"$out"
  done
done

/usr/bin/python3 - "$out" "$rounds" "$threads" "$steps" "$batch" "$warmup" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
import torch
presets = list(dict.fromkeys(r["preset"] for r in rows))
for p in presets:
    seen = {(r["impl"], r["params"], r["arch"]) for r in rows if r["preset"] == p}
    if len({(n, a) for _, n, a in seen}) != 1:
        sys.exit(f"bench: {p}: parameter counts or key/shape fingerprints differ: {sorted(seen)}; not the same architecture")
med = lambda impl, p: statistics.median(r["step_s"] for r in rows if r["impl"] == impl and r["preset"] == p)
print(f"PyTorch {torch.__version__} (Debian python3-torch, OpenBLAS pinned to 1 thread) vs ours (TorchSharp), "
      f"{sys.argv[3]} threads, batch {sys.argv[5]} of 64x64, median step of {sys.argv[4]} steps after {sys.argv[6]} warm-up, "
      f"median of {sys.argv[2]} alternated rounds\n")
print("| preset | parameters | PyTorch | ours | ours / PyTorch |")
print("|---|---:|---:|---:|---:|")
for p in presets:
    t_py, t_ours = med("pytorch", p), med("ours", p)
    b = int(sys.argv[5])
    params = next(r["params"] for r in rows if r["preset"] == p)
    print(f"| {p} | {params:,} | {b / t_py:.2f} samples/s ({t_py:.3f} s/step) | {b / t_ours:.2f} samples/s "
          f"({t_ours:.3f} s/step) | {t_py / t_ours:.2f}x |")
PY
