#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14 with ASan + UBSan, in build-fuzz/) and runs each one:
# first on its regression inputs (every finding so far, which must now pass), then for SECONDS
# (default 20) from its committed seed corpus, keeping what it learns in build-fuzz/corpus/.
# A finding is written to build-fuzz/ (crash-*, oom-*, leak-*, timeout-*) and fails the run.
# Usage: tools/fuzz.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DECOM_FUZZ=ON -DECOM_BUILD_TESTS=OFF -DECOM_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j2
for target in snapshot_entities wal_segment; do
  bin=build-fuzz/bin/fuzz_$target
  log=build-fuzz/fuzz_$target.log
  shopt -s nullglob
  regressions=(tests/fuzz/regressions/$target/*)
  shopt -u nullglob
  if [ ${#regressions[@]} -gt 0 ]; then
    "$bin" "${regressions[@]}" >"$log" 2>&1 || { tail -40 "$log"; echo "fuzz: $target fails a regression input"; exit 1; }
  fi
  mkdir -p "build-fuzz/corpus/$target"
  if ! "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
       -artifact_prefix=build-fuzz/ "build-fuzz/corpus/$target" "tests/fuzz/corpus/$target" \
       >"$log" 2>&1; then
    tail -60 "$log"
    echo "fuzz: $target found a problem (input in build-fuzz/, log in $log)"
    exit 1
  fi
  echo "fuzz: $target: $(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$') executions in ${seconds} s, no finding"
done
