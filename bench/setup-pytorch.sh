#!/usr/bin/env bash
# The side-by-side anchor for every benchmark here: Debian's python3-torch (PyTorch 1.13.1) with OpenBLAS.
# Run by bench/*.sh; installs only what is missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
# python3-torch alone pulls Debian's reference BLAS (matmul ~40x slower); libopenblas0-pthread takes over libblas.so.3.
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null || ! dpkg-query -W -f='${Status}' libopenblas0-pthread 2>/dev/null | grep -q "ok installed"; then
  echo "bench: installing Debian's python3-torch with OpenBLAS" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-torch libopenblas0-pthread >/dev/null
fi
