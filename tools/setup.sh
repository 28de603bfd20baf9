#!/usr/bin/env bash
# Installs the Debian packages ecomd needs to build and test, when they are missing.
# As root it runs apt-get; otherwise it prints the command to run.
set -euo pipefail

packages=(g++ cmake make ccache pkg-config curl
          libboost1.81-dev libboost-program-options1.81-dev libsimdjson-dev liblmdb-dev
          libssl-dev libgtest-dev libgmock-dev libbenchmark-dev libjemalloc-dev
          clang-14 libclang-rt-14-dev)  # the last two: libFuzzer (tools/fuzz.sh)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "setup: missing packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root:  apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
