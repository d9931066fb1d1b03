#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test:
#   1. Release build with warnings as errors; unit tests, simulations and real-peer integration tests
#      (the real binary with Node's ws, headless Chromium + JsSIP, sipp) on loopback.
#   2. clang build with AddressSanitizer + UndefinedBehaviorSanitizer: the unit tests again, and every
#      libFuzzer target for FUZZ_SECONDS (default 15) each, seeded from tests/fuzz/corpus/.
# Environment: FUZZ_SECONDS, SKIP_ASAN=1, SKIP_FUZZ=1, CTEST_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
start=$(date +%s)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# ctest's "N% tests passed, F tests failed out of T" lines, summed into the closing line.
count() { grep -E "tests passed, [0-9]+ tests failed out of" "$log" | tail -n 1; }
passed=0

scripts/setup.sh --tests

echo "== tests: Release build =="
ctest --test-dir build --output-on-failure --timeout 300 ${CTEST_ARGS:-} 2>&1 | tee "$log"
passed=$(( passed + $(count | sed -E 's/.* out of ([0-9]+).*/\1/') ))

if [[ -z "${SKIP_ASAN:-}" ]]; then
  echo "== tests: ASan + UBSan build (clang) =="
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DWEBTRUNK_SANITIZE=address,undefined -DWEBTRUNK_FUZZ=ON -DWEBTRUNK_BENCH=OFF -DWEBTRUNK_WERROR=ON >/dev/null
  ninja -C build-asan
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure --timeout 300 -L 'unit|sim' ${CTEST_ARGS:-} 2>&1 | tee "$log"
  passed=$(( passed + $(count | sed -E 's/.* out of ([0-9]+).*/\1/') ))

  if [[ -z "${SKIP_FUZZ:-}" ]]; then
    echo "== fuzz: ${FUZZ_SECONDS:-15} s per target =="
    for f in build-asan/tests/fuzz_*; do
      name=${f##*/fuzz_}
      corpus=$(mktemp -d)
      [[ -d tests/fuzz/corpus/$name ]] && cp -r "tests/fuzz/corpus/$name/." "$corpus/"
      echo "-- fuzz_$name"
      (cd "$(mktemp -d)" && "$root/$f" -max_total_time="${FUZZ_SECONDS:-15}" -rss_limit_mb=2048 \
          -print_final_stats=0 "$corpus" 2>&1 | tail -n 3)
      rm -rf "$corpus"
      passed=$(( passed + 1 ))
    done
  fi
fi
echo "== all tests passed in $(( $(date +%s) - start )) s =="
echo "tests: $passed passed, 0 failed"
