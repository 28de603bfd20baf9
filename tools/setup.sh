#!/usr/bin/env bash
# Installs what ecomd needs to build and test, when it is missing: Debian packages (as root it
# runs apt-get, waiting for another install's lock instead of failing; otherwise it prints the
# command to run), then the npm parts pinned in web/package-lock.json (Swagger UI for /docs,
# Prism and Spectral for the contract checks, playwright-core for the browser test) with
# `npm ci`, again only when they are missing or the lock file changed.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(g++ cmake make ccache pkg-config curl
          libboost1.81-dev libboost-program-options1.81-dev libsimdjson-dev liblmdb-dev
          libssl-dev libgtest-dev libgmock-dev libbenchmark-dev libjemalloc-dev
          clang-14 libclang-rt-14-dev  # libFuzzer (tools/fuzz.sh)
          libnats-dev nats-server      # replication (NATS JetStream) and its tests
          chromium)                    # the browser test of /docs
apt_lock_wait_s=900  # how long to wait for another apt or dpkg run to finish

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm for web/ (Swagger UI, Prism, Spectral, playwright-core): Debian's packages,
# unless a Node.js that brings its own npm is installed already.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: missing packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: run as root:  apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # apt waits up to DPkg::Lock::Timeout for the dpkg and list locks another install holds.
  apt=(apt-get -o DPkg::Lock::Timeout="$apt_lock_wait_s" -qq)
  # `apt-get update` of older apt releases does not wait for the lists lock: retry it.
  for attempt in $(seq 1 $((apt_lock_wait_s / 10))); do
    if "${apt[@]}" update; then break; fi
    if [ "$attempt" -eq $((apt_lock_wait_s / 10)) ]; then
      echo "setup: apt-get update kept failing for ${apt_lock_wait_s} s" >&2
      exit 1
    fi
    echo "setup: apt-get update failed (another install may hold its lock); retrying in 10 s"
    sleep 10
  done
  "${apt[@]}" install -y --no-install-recommends "${missing[@]}"
fi

# npm parts: exactly the versions in web/package-lock.json, no install scripts (none of them
# needs one; swagger-ui-dist's would phone an analytics host). A stamp holding the lock file's
# hash says whether node_modules matches it.
stamp=web/node_modules/.ecom-lock-sha256
want=$(sha256sum web/package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing web/ (npm ci: swagger-ui-dist, prism, spectral, playwright-core)"
  (cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi
