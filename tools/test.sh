#!/usr/bin/env bash
# One command for every test: install what is missing, build Release and run all ctest
# labels (unit, e2e, crash, browser: /docs in chromium, contract: Spectral and Prism), then the
# same suite under AddressSanitizer + UBSan, then the engine and persistence unit tests under
# ThreadSanitizer, then a short run of every libFuzzer target (tools/fuzz.sh). Exits non-zero on
# any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
jobs=2

echo "== Release build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DECOM_BUILD_TESTS=ON -DECOM_BUILD_BENCH=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

echo "== ASan + UBSan build and tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DECOM_SANITIZE=ON -DECOM_BUILD_TESTS=ON -DECOM_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest --output-on-failure -j"$jobs")

echo "== TSan: engine and persistence unit tests"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DECOM_TSAN=ON -DECOM_BUILD_TESTS=ON -DECOM_BUILD_BENCH=OFF >/dev/null
cmake --build build-tsan -j"$jobs" --target engine_test persistence_test
TSAN_OPTIONS=halt_on_error=1 build-tsan/bin/engine_test --gtest_brief=1
TSAN_OPTIONS=halt_on_error=1 build-tsan/bin/persistence_test --gtest_brief=1

echo "== libFuzzer targets: regression inputs, then 20 s each"
tools/fuzz.sh 20
