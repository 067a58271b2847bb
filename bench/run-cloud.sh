#!/usr/bin/env bash
# bench/run-cloud.sh BUILD_DIR [SECONDS] [ROUNDS]
#
# C_Sign latency and throughput, side by side in one run, of an RSA-2048
# key (CKM_SHA256_RSA_PKCS, 64-byte message, C_SignInit + C_Sign, 1 and 2
# threads, vtoken-bench --key):
#   1. SoftHSMv2 loaded directly;
#   2. the same SoftHSMv2 key through p11-kit's remoting (`p11-kit server`
#      + p11-kit-client.so over its Unix socket);
#      Both sign with the cloud credential's own key, in the service's HSM
#      token (`vtoken-service`, the service's default) beside the running
#      service: the same key, as issue 4 asks.
#   3. the vtoken cloud token: module -> agent -> HTTPS (loopback) -> the
#      reference signing service -> its SoftHSMv2. A SCAL1 credential with
#      multisign 100000 and a one-hour window, so the one code (from the
#      configured command) that a warm-up signature asks for covers every
#      signature of every round: no prompt inside the timed runs;
#   4. the same with a credential of multisign 1000: the agent asks for a new
#      code (the test command, then credentials/authorize) every 1000
#      signatures, inside the timed runs, to show what that costs.
# Everything lives in a temporary directory; the service, the p11-kit server
# and the agent are stopped at the end. SECONDS (default 3) per run. The
# four take turns for ROUNDS rounds (default 3), so that a slow or fast
# stretch of a shared machine falls on all; each round is printed and the
# ratios (rows 2 and 3: p11-kit and the cloud token with one code) come from
# the median of each column.
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [SECONDS] [ROUNDS]" >&2; exit 2; }
build=$(cd "$1" && pwd)
seconds=${2:-3}
rounds=${3:-3}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be a positive whole number" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
bench=$build/bin/vtoken-bench
vtoken=$build/bin/vtoken
softhsm=${VTOKEN_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
client=$(find /usr/lib/*/pkcs11 /usr/lib/pkcs11 -name p11-kit-client.so 2>/dev/null | head -n1)
[ -n "$client" ] || { echo "bench: p11-kit-client.so not found (package p11-kit-modules)" >&2; exit 1; }
key=bench-rsa2048

scratch=$(mktemp -d "${TMPDIR:-/tmp}/vtoken-bench-cloud.XXXXXX")
work=$scratch/work
mkdir -p "$scratch"/{run,data,config,work}
chmod 700 "$scratch/run"
export XDG_RUNTIME_DIR=$scratch/run XDG_DATA_HOME=$scratch/data XDG_CONFIG_HOME=$scratch/config
source "$repo/tests/integration/service.sh"
P11_KIT_SERVER_PID=
cleanup() {
  "$vtoken" agent stop >/dev/null 2>&1 || true
  service_stop || true
  [ -n "$P11_KIT_SERVER_PID" ] && kill "$P11_KIT_SERVER_PID" 2>/dev/null
  rm -rf "$scratch"
}
trap cleanup EXIT
run() {  # run NAME vtoken-bench options...: one row of the table, appended to $work/rows
  local name=$1
  shift
  "$bench" "$@" --key "$key" --seconds "$seconds" --name "$name" | tee "$work/out" || exit 1
  sed -n 's/^markdown-sign: //p' "$work/out" >>"$work/rows"
}
: >"$work/rows"

service_start >/dev/null || exit 1
service_account bench@example.org >/dev/null || exit 1
service_credential bench@example.org --key rsa2048 --scal 1 --multisign 100000 --quota 1000000 --label "$key" >/dev/null
service_credential bench@example.org --key rsa2048 --scal 1 --multisign 1000 --quota 1000000 --label "$key-1000" >/dev/null

# The service's HSM: its SoftHSMv2 configuration, token and user PIN, all in
# its data directory; the credential's private key has the credential's label.
hsm_conf=$SERVICE_DIR/data/softhsm2.conf hsm_token=vtoken-service
hsm_pin=$(cat "$SERVICE_DIR/data/hsm-pin") || exit 1
eval "$(SOFTHSM2_CONF=$hsm_conf p11-kit server --provider "$softhsm" -s "pkcs11:token=$hsm_token")"
p11kit_address=$P11_KIT_SERVER_ADDRESS
unset P11_KIT_SERVER_ADDRESS
service_configure_agent "scal1_window_seconds = 3600"
service_login >/dev/null || exit 1

direct="SoftHSMv2 direct" remote="SoftHSMv2 via p11-kit server + client" cloud="vtoken cloud token (HTTPS loopback)"
cloud1000="vtoken cloud token, a new code every 1000 signatures"
# The warm-up: the window's one authorization happens here, untimed.
"$bench" --module "$build/lib/libvtoken-pkcs11.so" --token-label bench@example.org --no-pin --key "$key" \
  --seconds 1 >/dev/null || exit 1
for round in $(seq "$rounds"); do
  echo "== round $round of $rounds"
  SOFTHSM2_CONF=$hsm_conf run "$direct" --module "$softhsm" --token-label $hsm_token --pin "$hsm_pin"
  P11_KIT_SERVER_ADDRESS=$p11kit_address run "$remote" --module "$client" --token-label $hsm_token --pin "$hsm_pin"
  run "$cloud" --module "$build/lib/libvtoken-pkcs11.so" --token-label bench@example.org --no-pin
  key=$key-1000 run "$cloud1000" --module "$build/lib/libvtoken-pkcs11.so" --token-label bench@example.org --no-pin
done

header='| RSA-2048 C_Sign | p50 µs 1 thr | p90 µs | p99 µs | sig/s 1 thr | sig/s 2 thr | p50 µs 2 thr |'
echo
echo "Each round:"
echo
echo "$header"
echo "|---|---:|---:|---:|---:|---:|---:|"
cat "$work/rows"
awk -v first=3 -v last=8 -f "$repo/bench/medians.awk" "$work/rows" >"$work/medians"
echo
echo "Median of the rounds:"
echo
echo "$header"
echo "|---|---:|---:|---:|---:|---:|---:|"
cat "$work/medians"
awk -F'|' 'NR==2 {p50=$3; t2=$7} NR==3 {
    printf "\ncloud / p11-kit (medians): median latency %.2fx [target <= 1.25x], 2-thread throughput %.2fx [target >= 1x]\n", $3/p50, $7/t2 }' \
  "$work/medians"
