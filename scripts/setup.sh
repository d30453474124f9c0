#!/usr/bin/env bash
# Installs what Latent needs from Debian on a fresh Debian 12 machine; idempotent and quiet when all is there.
# Called by ./latent and .ci/run, so a user never runs it by hand (but may).
set -euo pipefail

# Debian packages the project uses at run or test time:
#   fonts-dejavu-core  fonts for the PNG charts of training reports (Skia's NoDependencies build reads /usr/share/fonts)
#   librsvg2-bin       rsvg-convert, to rasterize OpenMoji's SVGs for `latent data emoji`
#   mpich libmpich-dev  MPICH's mpiexec and libmpich.so.12: data-parallel training (`mpiexec -n N latent train ...`, docs/training/distributed.md)
packages=(fonts-dejavu-core librsvg2-bin mpich libmpich-dev)
# Called with --test (by .ci/run): also what the tests need.
#   chromium           the browser that tests/Server's page test drives through Playwright (Playwright never downloads one)
# Called with --scale-out (by bench/serve/scale-out.sh): nginx, the load balancer in front of two `latent serve` replicas.
for arg in "$@"; do
  case "$arg" in
    --test) packages+=(chromium) ;;
    --scale-out) packages+=(nginx) ;;
    *) echo "setup: unknown option '$arg'; expected --test or --scale-out" >&2; exit 2 ;;
  esac
done

if ! command -v dotnet >/dev/null 2>&1; then
  echo "setup: the .NET SDK 10 is required (dotnet not found on PATH)." >&2
  exit 1
fi
if ! dotnet --list-sdks | grep -q '^10\.'; then
  echo "setup: the .NET SDK 10 is required; found: $(dotnet --list-sdks | tr '\n' ' ')" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]} from Debian" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
