#!/usr/bin/env bash
# Runs a `latent train ...` command to the end, resuming from its newest checkpoint whenever it stops with an engine
# error (exit code 3). Why: TorchSharp 0.107 frees the temporary Scalar of an implicit conversion (e.g. the alpha of
# `a + b`) in the GC's finalizer, which can race with the native call still reading it; about once in a few thousand
# steps a step then fails with "Expected false to be true ... Scalar.h". The process reports it and exits cleanly, and
# the run continues bit for bit from its last checkpoint; this loop does that unattended.
#   scripts/train-until-done.sh [LATENT] [--threads N] train unet --data D --out O ...   (LATENT defaults to ./latent)
# Usage errors (exit 2) and success end the loop; at most 20 restarts.
set -uo pipefail
latent="./latent"
if [[ $# -gt 0 && "$1" != train && "$1" != --* ]]; then latent="$1"; shift; fi
[[ " $* " == *" train "* ]] || { echo "usage: $0 [LATENT] [--threads N] train <model> --out DIR ..." >&2; exit 2; }
"$latent" "$@"; code=$?
for ((restart = 1; code == 3 && restart <= 20; restart++)); do
  # --resume takes the saved configs: keep the global options, the command words and the folders, drop the rest.
  args=()
  for ((i = 1; i <= $#; i++)); do
    a="${!i}"
    case "$a" in
      --data|--out|--threads|--vae|--text-encoder|--tokenizer) j=$((i + 1)); args+=("$a" "${!j}"); i=$j ;;
      --skip-bad) args+=("$a") ;;
      --*) j=$((i + 1)); [[ $j -le $# && "${!j}" != --* ]] && i=$j ;;
      *) args+=("$a") ;;
    esac
  done
  echo "train-until-done: engine error (exit 3); resuming from the newest checkpoint (restart $restart)" >&2
  sleep 2
  "$latent" "${args[@]}" --resume; code=$?
done
exit $code
