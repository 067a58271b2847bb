#!/usr/bin/env bash
# bench/run.sh BUILD_DIR [SECONDS] [ROUNDS]
#
# Runs vtoken-bench on SoftHSMv2 and on vtoken side by side, each on a fresh
# token with the same keys generated through the API (RSA-2048 "bench-rsa2048",
# P-256 "bench-p256"), in isolated environments (temporary SoftHSMv2 token
# directory; temporary XDG_* directories for vtoken, whose agent the module
# starts and which stays running for the cold-start measurement). Prints
# `openssl speed` for reference, then a markdown table for the README.
# SECONDS (default 3) is the length of each throughput run. The two modules
# take turns for ROUNDS rounds (default 3), so that a slow or fast stretch of
# a shared machine falls on both; each round's figures are printed, and the
# ratios against the targets are taken from the median of each column.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [SECONDS] [ROUNDS]" >&2; exit 2; }
build=$(cd "$1" && pwd)
seconds=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
rounds=${3:-3}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be a positive whole number" >&2; exit 2; }
bench=$build/bin/vtoken-bench
softhsm=${VTOKEN_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
vtoken_module=$build/lib/libvtoken-pkcs11.so
pin=123456 so_pin=12345678 label=bench
work=$(mktemp -d "${TMPDIR:-/tmp}/vtoken-bench.XXXXXX")
vt_env=(XDG_RUNTIME_DIR="$work/vt/run" XDG_DATA_HOME="$work/vt/data" XDG_CONFIG_HOME="$work/vt/config")

cleanup() {
  if [ -x "$build/bin/vtoken" ]; then env "${vt_env[@]}" timeout 10 "$build/bin/vtoken" agent stop >/dev/null 2>&1 || true; fi
  local pid
  for pid in $(pgrep -x vtokend 2>/dev/null || true); do
    if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "XDG_RUNTIME_DIR=$work/vt/run"; then kill "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/softhsm/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$work/softhsm/tokens" >"$work/softhsm/softhsm2.conf"
export SOFTHSM2_CONF=$work/softhsm/softhsm2.conf
"$bench" --module "$softhsm" --provision --token-label $label --so-pin $so_pin --pin $pin
have_vtoken=false
if [ -f "$vtoken_module" ] && [ -x "$build/bin/vtokend" ]; then
  have_vtoken=true
  mkdir -p "$work/vt/run" "$work/vt/data" "$work/vt/config"
  chmod 700 "$work/vt/run"
  env "${vt_env[@]}" "$bench" --module "$vtoken_module" --provision --token-label $label --so-pin $so_pin --pin $pin
else
  echo "bench: $vtoken_module or $build/bin/vtokend not built; SoftHSMv2 only" >&2
fi

: >"$work/rows"
for round in $(seq "$rounds"); do
  echo "== round $round of $rounds"
  "$bench" --module "$softhsm" --token-label $label --pin $pin --seconds "$seconds" --name SoftHSMv2 | tee "$work/softhsm.out"
  sed -n 's/^markdown: //p' "$work/softhsm.out" >>"$work/rows"
  if $have_vtoken; then
    env "${vt_env[@]}" "$bench" --module "$vtoken_module" --token-label $label --pin $pin --seconds "$seconds" \
      --name vtoken | tee "$work/vtoken.out"
    sed -n 's/^markdown: //p' "$work/vtoken.out" >>"$work/rows"
  fi
done

echo
echo "== openssl speed -seconds 2 rsa2048 ecdsap256 (reference: raw OpenSSL, one thread)"
openssl speed -seconds 2 rsa2048 ecdsap256 2>/dev/null | grep -E '^(version|built|options|CPUINFO|OpenSSL)|sign/s|rsa +2048|256 bits ecdsa' || true

header='| module | RSA-2048 sig/s 1 thr | 2 thr | p50 µs | P-256 sig/s 1 thr | 2 thr | p50 µs | C_GetSlotInfo ns | cold start ms |'
echo
echo "Each round:"
echo
echo "$header"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
cat "$work/rows"
awk -v first=3 -v last=10 -v last_decimals=1 -f "$here/medians.awk" "$work/rows" >"$work/medians"
echo
echo "Median of the rounds:"
echo
echo "$header"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
cat "$work/medians"
if [ "$(wc -l <"$work/medians")" -eq 2 ]; then
  awk -F'|' 'NR==1 {r1=$3; r2=$4; e1=$6; e2=$7} NR==2 {
      printf "\nvtoken / SoftHSMv2 (medians): RSA-2048 %.2fx (1 thr), %.2fx (2 thr) [target 1.8x]; P-256 %.2fx (1 thr), %.2fx (2 thr) [target 1.2x]\n",
             $3/r1, $4/r2, $6/e1, $7/e2;
      printf "vtoken C_GetSlotInfo %s ns [target < 1000]; cold start %s ms [target < 20]\n", $9, $10 }' \
    "$work/medians"
fi
