#!/usr/bin/env bash
# run-differential.sh [--softhsm-only] BUILD_DIR
#
# Plays the conformance scenarios against SoftHSMv2 and against vtoken, each in
# an isolated environment (a temporary SoftHSMv2 token directory; temporary
# XDG_RUNTIME_DIR/XDG_DATA_HOME/XDG_CONFIG_HOME for vtoken, whose module starts
# its own agent), then compares the runs step by step. Differences not listed
# in expected-differences.txt fail the run.
# --softhsm-only: runs SoftHSMv2 twice and compares the runs with each other
# (checks the runner and that every result is deterministic).
# Prints "conformance: N scenarios, N passed, N failed". KEEP=1 keeps the
# temporary directory.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
softhsm_only=0
if [ "${1:-}" = "--softhsm-only" ]; then softhsm_only=1; shift; fi
[ $# -eq 1 ] || { echo "usage: $0 [--softhsm-only] BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd) || exit 2
runner=$build/bin/vtoken-conformance
softhsm=${VTOKEN_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
vtoken_module=$build/lib/libvtoken-pkcs11.so
[ -x "$runner" ] || { echo "conformance: $runner not built" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/vtoken-conformance.XXXXXX")

stop_agent() {  # the agent our vtoken run started, found by its private runtime dir
  [ -d "$work/vt/run" ] || return 0
  XDG_RUNTIME_DIR=$work/vt/run XDG_DATA_HOME=$work/vt/data XDG_CONFIG_HOME=$work/vt/config \
    timeout 10 "$build/bin/vtoken" agent stop >/dev/null 2>&1
  local pid
  for pid in $(pgrep -x vtokend 2>/dev/null); do
    if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "XDG_RUNTIME_DIR=$work/vt/run"; then
      kill "$pid" 2>/dev/null
    fi
  done
}
cleanup() {
  stop_agent
  if [ "${KEEP:-0}" = 1 ]; then echo "conformance: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# run_module NAME MODULE PREFIX [env assignments...]: one run into $work/NAME.json.
# A module that crashes or hangs in a scenario ends its run; the scenario is
# named, skipped, and the run continues without it (it counts as failed).
run_module() {
  local name=$1 module=$2 prefix=$3
  shift 3
  local skip=() attempt rc
  for attempt in 1 2 3 4 5 6; do
    env "$@" "$runner" --module "$module" --label-prefix "$prefix" --json "$work/$name.json" \
      "${skip[@]}" >"$work/$name.log" 2>&1
    rc=$?
    [ $rc -eq 0 ] && return 0
    local fatal
    fatal=$(sed -n 's/^vtoken-conformance: FATAL: .* in scenario \(.*\)$/\1/p' "$work/$name.log" | tail -n1)
    echo "conformance: $name: run failed (exit $rc)${fatal:+ in scenario $fatal}" >&2
    tail -n 5 "$work/$name.log" >&2
    [ -n "$fatal" ] || return 1
    [ "$fatal" = "fixture/setup" ] && return 1
    skip+=(--skip "$fatal")
  done
  return 1
}

softhsm_env() {  # softhsm_env NAME: a private token directory
  mkdir -p "$work/$1/tokens"
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
    "$work/$1/tokens" >"$work/$1/softhsm2.conf"
  echo "SOFTHSM2_CONF=$work/$1/softhsm2.conf"
}

# In sanitizer builds the runner is instrumented: SoftHSMv2's own leaks are not ours to report.
softhsm_asan="ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
ok=1
run_module softhsm "$softhsm" sh "$(softhsm_env softhsm)" "$softhsm_asan" || ok=0
if [ $softhsm_only = 1 ]; then
  run_module softhsm2 "$softhsm" sh "$(softhsm_env softhsm2)" "$softhsm_asan" || ok=0
  other=softhsm2
  expected=()
else
  mkdir -p "$work/vt/run" "$work/vt/data" "$work/vt/config"
  chmod 700 "$work/vt/run"
  run_module vtoken "$vtoken_module" vt XDG_RUNTIME_DIR="$work/vt/run" XDG_DATA_HOME="$work/vt/data" \
    XDG_CONFIG_HOME="$work/vt/config" || ok=0
  other=vtoken
  expected=(--expected-differences "$here/expected-differences.txt" --required-b "$here/required-b.txt")
fi
if [ ! -s "$work/softhsm.json" ] || [ ! -s "$work/$other.json" ]; then
  echo "conformance: a run produced no results; logs:" >&2
  tail -n 20 "$work"/*.log >&2
  echo "conformance: 0 scenarios, 0 passed, 1 failed"
  exit 1
fi
"$runner" --compare "$work/softhsm.json" "$work/$other.json" "${expected[@]}" ${VERBOSE:+--verbose}
rc=$?
[ $ok = 1 ] || rc=1
exit $rc
