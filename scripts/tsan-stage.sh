#!/usr/bin/env bash
# scripts/tsan-stage.sh [BUILD_DIR]: the ThreadSanitizer stage of the test
# command. Builds only what the module's tests need (test_pkcs11, the module,
# vtokend) with -DVTOKEN_SANITIZE=thread in BUILD_DIR (default build-tsan) and
# runs the module's tests there: the threaded unit tests, every fake-agent
# test, and the real agent + module tests (many threads signing, finding and
# polling while the token is unplugged and plugged). The autostarted vtokend
# is instrumented too; its reports (it has no terminal) are collected from
# TSAN_OPTIONS' log_path and fail the stage. Prints the CTest summary line the
# test command counts, into BUILD_DIR/ctest.log.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-tsan}
jobs=$(nproc)
# Debug (-O0): compiles about a third faster than -O2, and these tests are short.
if [ ! -f "$dir/build.ninja" ]; then
  cmake -S . -B "$dir" -G Ninja -DCMAKE_UNITY_BUILD=ON -DVTOKEN_SANITIZE=thread -DCMAKE_BUILD_TYPE=Debug >/dev/null
fi
echo "== ThreadSanitizer build: building test_pkcs11, the module and vtokend in $dir"
cmake --build "$dir" -j"$jobs" --target test_pkcs11 vtoken-pkcs11 vtokend
reports=$PWD/$dir/tsan-reports
rm -rf "$reports" "$dir/ctest.log"
mkdir -p "$reports"
# halt_on_error=0: report every race, then fail the process (exitcode 66).
# Third-party suppressions only, each with its reason: tests/tsan.supp.
export TSAN_OPTIONS="halt_on_error=0 exitcode=66 second_deadlock_stack=1 log_path=$reports/tsan suppressions=$PWD/tests/tsan.supp"
echo "== ThreadSanitizer build: running the module's tests"
# Excluded: "a forked child must initialize again" — ThreadSanitizer does not
# support a multi-threaded process that forks and then starts threads without
# exec (the child's C_Initialize starts the reader thread; TSan's runtime
# aborts it: die_after_fork). The ASan and normal builds run it.
status=0
(cd "$dir" && ctest --output-on-failure --timeout 600 -j"$jobs" -R '^pkcs11:' -E '^pkcs11:a forked child') |
  tee "$dir/ctest.log" || status=1
if compgen -G "$reports/tsan.*" >/dev/null; then
  echo "== ThreadSanitizer reports:"
  cat "$reports"/tsan.*
  echo "tsan-stage: $(ls "$reports" | wc -l) process(es) reported data races or other ThreadSanitizer errors"
  status=1
fi
exit "$status"
