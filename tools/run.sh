#!/usr/bin/env bash
# One command for a newcomer: install what is missing, build Release, and start ecomd on
# 127.0.0.1:8080 with ./data, seeding the demo data once into a new data dir (build/bin/ecom-snapshot
# is built too, for operators).
# Flags after the script name go to ecomd (e.g. tools/run.sh --port 9090).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DECOM_BUILD_TESTS=OFF -DECOM_BUILD_BENCH=OFF >/dev/null
cmake --build build -j2 --target ecomd ecom-snapshot
export ECOM_ADMIN_TOKEN="${ECOM_ADMIN_TOKEN:-dev-admin-token}"
echo "admin token: $ECOM_ADMIN_TOKEN (set ECOM_ADMIN_TOKEN to change it)"
# ecomd's own defaults are ./data and 127.0.0.1:8080; flags given here override them.
exec build/bin/ecomd --seed-demo "$@"
