# Shared setup for integration scripts: tests/integration/X.sh BUILD_DIR.
# Gives each script its own XDG directories (so the agent it starts is its
# own), the module and CLI paths, `app` to run third-party applications, and
# `check` to record results; the agent is stopped on exit. A failed check
# shows the last $VTOKEN_IT_LOG_LINES (20) lines of its output.
set -uo pipefail
build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$repo/scripts/lib/app.sh"
source "$repo/scripts/lib/openssl-engine.sh"

# VTOKEN_IT_MODULE runs a script against another module (e.g. SoftHSMv2) to check the script itself.
module=${VTOKEN_IT_MODULE:-$build/lib/libvtoken-pkcs11.so}
vtoken=$build/bin/vtoken
scratch=$(mktemp -d "${TMPDIR:-/tmp}/vtoken-it.XXXXXX")
mkdir -p "$scratch"/{run,data,config,work}
chmod 700 "$scratch/run"
export XDG_RUNTIME_DIR=$scratch/run XDG_DATA_HOME=$scratch/data XDG_CONFIG_HOME=$scratch/config
work=$scratch/work
app_setup "$module"

passed=0
failed=0
cleanup() {
  "$vtoken" agent stop >/dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap cleanup EXIT

# check "what is checked" COMMAND...: runs COMMAND, records ok/not ok.
check() {
  local what=$1
  shift
  if "$@" >"$work/last.log" 2>&1; then
    echo "ok - $what"
    passed=$((passed + 1))
  else
    echo "not ok - $what"
    sed "s/^/    /" "$work/last.log" | tail -n ${VTOKEN_IT_LOG_LINES:-20}
    failed=$((failed + 1))
  fi
}

# expect_fail "what" COMMAND...: COMMAND must fail.
expect_fail() {
  local what=$1
  shift
  if "$@" >"$work/last.log" 2>&1; then
    echo "not ok - $what (succeeded, should have failed)"
    failed=$((failed + 1))
  else
    echo "ok - $what"
    passed=$((passed + 1))
  fi
}

# expect_output "what" REGEX COMMAND...: COMMAND's output must match REGEX.
expect_output() {
  local what=$1 regex=$2
  shift 2
  "$@" >"$work/last.log" 2>&1
  if grep -Eq -- "$regex" "$work/last.log"; then
    echo "ok - $what"
    passed=$((passed + 1))
  else
    echo "not ok - $what (no match for /$regex/)"
    sed "s/^/    /" "$work/last.log" | tail -n ${VTOKEN_IT_LOG_LINES:-20}
    failed=$((failed + 1))
  fi
}

# expect_no_output "what" REGEX COMMAND...: the command succeeds and its
# output does not match (a failing command is not evidence of absence).
expect_no_output() {
  local what=$1 regex=$2 rc=0
  shift 2
  "$@" >"$work/last.log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ] && ! grep -Eq -- "$regex" "$work/last.log"; then
    echo "ok - $what"
    passed=$((passed + 1))
  else
    echo "not ok - $what (exit $rc, or a match for /$regex/)"
    sed "s/^/    /" "$work/last.log" | tail -n ${VTOKEN_IT_LOG_LINES:-20}
    failed=$((failed + 1))
  fi
}

p11() { app pkcs11-tool --module "$module" "$@"; }

finish() {
  echo "$(basename "$0" .sh): $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
