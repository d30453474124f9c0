#!/usr/bin/env bash
# Peak resident memory of loading an SD 1.5-sized single file (issue 20, item 5): random weights of SD 1.5's shapes
# (U-Net 320-640-1280-1280, VAE 128-256-512-512, CLIP ViT-L/14 text encoder), written as one fp32 .safetensors with the
# original LDM key names by `latent convert`, then `latent txt2img --model FILE --config DIR` (one 64x64 step, so that
# the weights dominate) under /usr/bin/time -v. Needs ~10 GB of free disk under $WORK.
#   bash bench/single_file_memory.sh [WORK=/tmp/sd15-bench]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:-/tmp/sd15-bench}"
rm -rf "$work"; mkdir -p "$work/config"
cp -r "$root/tests/fixtures/realformats/tiny-sd15/." "$work/config/"
rm -f "$work/config"/*/*.safetensors
python3 - "$work/config" <<'PY'
import json, sys
def edit(path, **changes):
    c = json.load(open(path)); c.update(changes); json.dump(c, open(path, "w"), indent=2)
d = sys.argv[1]
edit(f"{d}/unet/config.json", block_out_channels=[320, 640, 1280, 1280], attention_head_dim=8, cross_attention_dim=768, norm_num_groups=32, sample_size=64)
edit(f"{d}/vae/config.json", block_out_channels=[128, 256, 512, 512], norm_num_groups=32, sample_size=512)
edit(f"{d}/text_encoder/config.json", hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12, vocab_size=49408, max_position_embeddings=77, projection_dim=768)
PY
dotnet build "$root/bench/SingleFileMemory" -c Release -v q -nologo >/dev/null
cp -r "$work/config" "$work/folder"
dotnet "$root/bench/SingleFileMemory/bin/Release/net10.0/linux-x64/latent-bench-single-file.dll" "$work/config" "$work/folder"
"$root/latent" convert "$work/folder" "$work/sd15-shaped.safetensors"
ls -l "$work/sd15-shaped.safetensors"
rm -rf "$work/folder"
/usr/bin/time -v "$root/latent" txt2img "a cat" --model "$work/sd15-shaped.safetensors" --config "$work/config" \
  --steps 1 --size 64 --runtime libtorch --out "$work/out.png" 2> "$work/time.txt"
grep -E "Maximum resident set size|Elapsed" "$work/time.txt"
