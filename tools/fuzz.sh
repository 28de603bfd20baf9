#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14 with ASan + UBSan, in build-fuzz/) and runs each one:
# first on its regression inputs (every finding so far, which must now pass), then for SECONDS
# (default 20) from its committed seed corpus, keeping what it learns in build-fuzz/corpus/.
# A finding is written to build-fuzz/ (crash-*, oom-*, leak-*, timeout-*) and fails the run.
# Usage: tools/fuzz.sh [seconds] [target...]   (targets: the names below; default all)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
# target:max_len (bytes). The HTTP target's is just past the 16 KiB header limit, so that 431
# stays reachable; the values are short; the snapshot and WAL inputs are cut from real files.
all_targets=(snapshot_entities:65536 wal_segment:65536 http_request:20480 json_body:8192
             request_values:512)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]%%:*}")
max_len_of() {
  local entry
  for entry in "${all_targets[@]}"; do
    [ "${entry%%:*}" = "$1" ] && { echo "${entry#*:}"; return; }
  done
  echo "fuzz: no target $1 (${all_targets[*]%%:*})" >&2
  exit 2
}
CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DECOM_FUZZ=ON -DECOM_BUILD_TESTS=OFF -DECOM_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j2
for target in "${targets[@]}"; do
  max_len=$(max_len_of "$target")
  bin=build-fuzz/bin/fuzz_$target
  log=build-fuzz/fuzz_$target.log
  shopt -s nullglob
  regressions=(tests/fuzz/regressions/$target/*)
  shopt -u nullglob
  if [ ${#regressions[@]} -gt 0 ]; then
    "$bin" "${regressions[@]}" >"$log" 2>&1 || { tail -40 "$log"; echo "fuzz: $target fails a regression input"; exit 1; }
  fi
  mkdir -p "build-fuzz/corpus/$target"
  if ! "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len="$max_len" -print_final_stats=1 \
       -artifact_prefix=build-fuzz/ "build-fuzz/corpus/$target" "tests/fuzz/corpus/$target" \
       >"$log" 2>&1; then
    tail -60 "$log"
    echo "fuzz: $target found a problem (input in build-fuzz/, log in $log)"
    exit 1
  fi
  echo "fuzz: $target: $(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$') executions in ${seconds} s, no finding"
done
