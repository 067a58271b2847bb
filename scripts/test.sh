#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test
# twice — in a normal build and in an AddressSanitizer + UBSan build.
#   scripts/test.sh            everything
#   scripts/test.sh -R REGEX   only the CTest tests matching REGEX (both builds)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
jobs=$(nproc)

run_suite() {  # run_suite BUILD_DIR LABEL [ctest args...]
  local dir=$1 label=$2
  shift 2
  rm -f "$dir/ctest.log"
  echo "== $label: building in $dir"
  scripts/build.sh "$dir" "${cmake_args[@]}"
  echo "== $label: running tests"
  (cd "$dir" && ctest --output-on-failure --timeout 600 -j"$jobs" "$@") | tee "$dir/ctest.log"
}

failed=0
cmake_args=()
run_suite build "normal build" "$@" || failed=1

# Sanitizers: our own processes (tests, agent, service, conformance runner)
# are instrumented; third-party applications that load the module get the
# ASan runtime preloaded by the scripts that start them.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cmake_args=(-DVTOKEN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
run_suite build-asan "ASan+UBSan build" "$@" || failed=1

summarize() {
  local log=$1
  sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p' "$log" | tail -n1
}
read -r total_n failed_n <<<"$(summarize build/ctest.log)"
read -r total_a failed_a <<<"$(summarize build-asan/ctest.log)"
total=$(( ${total_n:-0} + ${total_a:-0} ))
bad=$(( ${failed_n:-0} + ${failed_a:-0} ))
echo
echo "normal build: ${total_n:-0} tests, ${failed_n:-?} failed; ASan+UBSan build: ${total_a:-0} tests, ${failed_a:-?} failed"
echo "$((total - bad)) passed, $bad failed"
[ "$failed" -eq 0 ] && [ "$bad" -eq 0 ]
