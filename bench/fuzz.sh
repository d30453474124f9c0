#!/usr/bin/env bash
# The fuzz suite of tests/Cli/Fuzz at a larger N (issue 21): N seeded cases per family (safetensors headers, configs,
# tokenizer files, PNGs, command lines) through `latent` in-process, under the same GC stress as .ci/run; prints each
# family's outcome counts (the numbers in docs/RELIABILITY.md) and any failing case.
#   bash bench/fuzz.sh [N=300] [SEED=21]
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
n="${1:-300}"; seed="${2:-21}"
report="$(mktemp)"
dotnet build "$root/tests/Cli" -c Release -v q -nologo >/dev/null || exit 1
DOTNET_GCgen0size="${DOTNET_GCgen0size:-0x10000}" LATENT_FUZZ_CASES="$n" LATENT_FUZZ_SEED="$seed" LATENT_FUZZ_REPORT="$report" \
  dotnet test "$root/tests/Cli" -c Release --no-build --filter "FullyQualifiedName~FuzzTests" 2>&1 | grep -E "Passed!|Failed!"
status=${PIPESTATUS[0]}
cat "$report"; rm -f "$report"
exit "$status"
