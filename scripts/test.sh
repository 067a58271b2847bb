#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test
# twice — in a normal build and in an AddressSanitizer + UBSan build — plus
# the module's tests in a ThreadSanitizer build and the Windows key storage
# provider under Wine against the normal build.
#   scripts/test.sh            everything
#   scripts/test.sh -R REGEX   only the CTest tests matching REGEX (both builds; no TSan or Wine stage)
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

# The CNG provider (cng-provider/, cross-compiled with mingw-w64) under Wine,
# talking to the normal build's agent. Its own script counts its checks.
rm -f build/wine.log
if [ $# -eq 0 ]; then
  echo "== Windows provider under Wine"
  cng-provider/test/run-wine-tests.sh build 2>&1 | tee build/wine.log || failed=1
fi

# Sanitizers: our own processes (tests, agent, service, conformance runner)
# are instrumented; third-party applications that load the module get the
# ASan runtime preloaded by the scripts that start them.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cmake_args=(-DVTOKEN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
run_suite build-asan "ASan+UBSan build" "$@" || failed=1

# ThreadSanitizer: only the module's tests (threads, fake agent, real agent
# under many threads), with only what they need built (scripts/tsan-stage.sh).
rm -f build-tsan/ctest.log
if [ $# -eq 0 ]; then scripts/tsan-stage.sh build-tsan || failed=1; fi

summarize() {
  local log=$1
  sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p' "$log" | tail -n1
}
read -r total_n failed_n <<<"$(summarize build/ctest.log)"
read -r total_a failed_a <<<"$(summarize build-asan/ctest.log)"
read -r total_t failed_t <<<"$(summarize build-tsan/ctest.log 2>/dev/null)"
read -r passed_w failed_w < <(sed -n 's/^run-wine-tests: \([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p' build/wine.log 2>/dev/null | tail -n1) || true
total=$(( ${total_n:-0} + ${total_a:-0} + ${total_t:-0} + ${passed_w:-0} + ${failed_w:-0} ))
bad=$(( ${failed_n:-0} + ${failed_a:-0} + ${failed_t:-0} + ${failed_w:-0} ))
echo
echo "normal build: ${total_n:-0} tests, ${failed_n:-?} failed; ASan+UBSan build: ${total_a:-0} tests, ${failed_a:-?} failed"
[ -s build-tsan/ctest.log ] && echo "ThreadSanitizer build: ${total_t:-0} tests, ${failed_t:-?} failed"
[ -s build/wine.log ] && echo "Windows provider under Wine: $(( ${passed_w:-0} + ${failed_w:-0} )) checks, ${failed_w:-?} failed"
echo "$((total - bad)) passed, $bad failed"
[ "$failed" -eq 0 ] && [ "$bad" -eq 0 ]
