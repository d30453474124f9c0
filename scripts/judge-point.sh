#!/bin/bash
# One judge point of a U-Net checkpoint (issue 19): assembles a model folder from its EMA weights and the shipped
# parts, then generates the judge prompts at cfg 7.5 (30 DDIM steps, two seeds per --seed value) and scores them.
#   scripts/judge-point.sh LATENT UNET_WEIGHTS NAME [TEXT_ENCODER_RUN] [SEED ...]
# UNET_WEIGHTS: a diffusers U-Net safetensors (e.g. scripts/ema-from-checkpoint.py's output); NAME: the point's name;
# TEXT_ENCODER_RUN: a `train text-encoder` run folder whose text_encoder/, tokenizer/ and image_encoder/ the U-Net was
# trained with (default: the shipped ones); SEED: first seeds of the pairs (default 0 1000 2000). Writes the model
# folder and the PNGs to runs/eval-NAME/ and one JSON per seed pair to runs/judge/NAME-sSEED.json (paired comparisons:
# the JSONs' per_prompt). Run from the repository root; the data set is $DATA (default /tmp/emoji-captions).
set -euo pipefail
latent=$1; weights=$2; name=$3; te=${4:-weights/emoji-64}; shift $(( $# < 4 ? $# : 4 ))
seeds=("$@"); [ ${#seeds[@]} -gt 0 ] || seeds=(0 1000 2000)
data=${DATA:-/tmp/emoji-captions}
d=runs/eval-$name; mkdir -p "$d/unet" runs/judge
cp weights/emoji-64/model_index.json "$d/"; cp -r weights/emoji-64/vae weights/emoji-64/scheduler "$d/"
cp -r "$te/text_encoder" "$te/tokenizer" "$te/image_encoder" "$d/"
cp weights/emoji-64/unet/config.json "$d/unet/"
cp "$weights" "$d/unet/diffusion_pytorch_model.safetensors"
for s in "${seeds[@]}"; do
  "$latent" --threads 1 eval txt2img --data "$data" --prompts docs/eval/judge-prompts.tsv --judge weights/judge-64 \
    --model "$d" --seeds 2 --steps 30 --scheduler ddim --cfg 7.5 --seed "$s" --images "$d/images-s$s" \
    --json "runs/judge/$name-s$s.json"
done
