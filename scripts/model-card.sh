#!/bin/bash
# Remakes every figure and JSON of docs/MODEL_CARD.md for the shipped model (issue 19), in one go:
#   scripts/model-card.sh LATENT DATA [WORK]
# LATENT: the latent binary; DATA: the emoji data set with people's-words captions (`latent data emoji --out DATA`);
# WORK: where the generated images are kept for re-scoring (default runs/model-card). Run from the repository root,
# with nothing else busy if the timings it prints are to be quoted. Takes about an hour on our 2 cores; THREADS=1 keeps
# it to one core (beside a training run); RESCORE=1 re-scores the last card's images instead of generating new ones.
set -euo pipefail
latent=$1; data=$2; work=${3:-runs/model-card}
threads=${THREADS:+--threads $THREADS}
out=docs/model-card
mkdir -p "$work" "$out"

# eval txt2img re-scores the images it finds in --images instead of generating them. RESCORE=1 wants that (a new judge
# on the same images); otherwise the last card's images move to WORK/previous (kept for a paired comparison against
# the new weights) so that the card shows the weights as they are now.
if [[ "${RESCORE:-0}" != 1 ]]; then
  rm -rf "$work/previous"; mkdir -p "$work/previous"
  for d in judge judge-s1000; do [[ -d "$work/$d" ]] && mv "$work/$d" "$work/previous/$d"; done
fi

# 1. The judge's table: 135 prompts x seeds 0 and 1 at cfg 1, 3 and 7.5 (per-prompt scores inside the JSON), and the
#    same at cfg 7.5 for seeds 1000 and 1001 (four seeds per prompt at the default scale).
"$latent" $threads eval txt2img --data "$data" --prompts docs/eval/judge-prompts.tsv --judge weights/judge-64 \
    --seeds 2 --steps 30 --scheduler ddim --cfg 1,3,7.5 --seed 0 --images "$work/judge" --json "$out/eval-judge.json"
"$latent" $threads eval txt2img --data "$data" --prompts docs/eval/judge-prompts.tsv --judge weights/judge-64 \
    --seeds 2 --steps 30 --scheduler ddim --cfg 7.5 --seed 1000 --images "$work/judge-s1000" --json "$out/eval-judge-s1000.json"

# 2. Our CLIP's prompt fidelity and the cfg grid (not independent of the model: kept for continuity).
"$latent" $threads eval txt2img --data "$data" --prompts docs/eval/prompts.txt --seeds 2 --steps 25 \
    --json "$out/eval.json" --grid "$out/cfg-grid.png"

# 3. Samples: four prompts, four seeds each, and eight more cats.
for prompt in "a cat" "a red apple" "a smiling face with sunglasses" "a rocket"; do
  "$latent" $threads txt2img "$prompt" --n 4 --grid --seed 1 --out "$out/$(echo "$prompt" | tr ' ' '-').png"
done
"$latent" $threads txt2img "a cat" --cfg 7.5 --n 8 --grid --seed 7 --out "$out/a-cat-seed7-8.png"

# 4. Samplers: "a cat", seed 7, 20 steps, one 2x2 sheet per sampler from left to right (same starting noise).
rows=()
for s in ddim euler euler-karras dpm++2m dpm++2m-karras euler-a ddpm pndm; do
  "$latent" $threads txt2img "a cat" --cfg 7.5 --seed 7 --n 4 --steps 20 --scheduler "$s" --grid --out "$work/sampler-$s.png"
  rows+=("$work/sampler-$s.png")
done
dotnet run scripts/stack-rows.cs -- --across "$out/samplers.png" "${rows[@]}"
