#!/usr/bin/env bash
# The Windows provider under Wine against a real agent:
#   cng-provider/test/run-wine-tests.sh BUILD_DIR
# BUILD_DIR is the main Linux build (bin/vtokend, bin/vtoken,
# lib/libvtoken-pkcs11.so). This script
#   1. builds cng-provider/ with mingw-w64 (into $KSP_BUILD_DIR, default BUILD_DIR/cng-provider-mingw);
#   2. checks that vtoken-ksp.dll exports GetKeyStorageInterface and nothing else;
#   3. makes a private WINEPREFIX and XDG directories under a temp dir and starts
#      vtokend there with the loopback TCP listener (vtokend --tcp-listen 127.0.0.1:0);
#   4. creates an emulated token with RSA-2048, EC P-256 and EC P-384 keys and
#      certificates (vtoken token create, pkcs11-tool, openssl);
#   5. registers the provider in Wine's registry, runs ksp-unit-tests.exe (fake
#      agent) and ksp-wine-tests.exe (the DLL via LoadLibrary against vtokend,
#      BCrypt verification, vtoken-certsync.exe and the certificate store);
#   6. logs the agent in to the reference signing service (test mode, a demo
#      account with an RSA SCAL1 and an EC SCAL2 credential, codes from oathtool
#      through cloud.otp_command) and runs the [cloud] tests: the cloud token's
#      keys, every padding, silent signing, vtoken-certsync; then restarts the
#      agent with cloud.authorization = prompt and a scripted pinentry and runs
#      the [cloud-prompt] tests (NCRYPT_SILENT_FLAG -> NTE_SILENT_CONTEXT, no prompt);
#   7. verifies every signature the Windows side wrote with OpenSSL.
# Prints "run-wine-tests: N passed, N failed" last; exits non-zero on any failure.
set -uo pipefail
build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/.." && pwd)
ksp_build=${KSP_BUILD_DIR:-$build/cng-provider-mingw}
vtokend=$build/bin/vtokend
vtoken=$build/bin/vtoken
module=$build/lib/libvtoken-pkcs11.so
pin=48151623
puk=42424242

passed=0
failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }
finish() {
  echo "run-wine-tests: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}
# check "what" COMMAND...: runs COMMAND quietly, shows its output on failure.
check() {
  local what=$1
  shift
  if "$@" >"$scratch/last.log" 2>&1; then ok "$what"; else
    not_ok "$what"
    sed 's/^/    /' "$scratch/last.log" | tail -n 25
  fi
}
winpath() { echo "Z:${1//\//\\}"; }

for tool in x86_64-w64-mingw32-g++-posix x86_64-w64-mingw32-objdump wine wineboot wineserver pkcs11-tool openssl cmake python3 oathtool curl flock; do
  command -v "$tool" >/dev/null || { echo "run-wine-tests: $tool is missing (see cng-provider/deps.txt)" >&2; exit 2; }
done
for f in "$vtokend" "$vtoken" "$module" "$build/bin/vtoken-signing-service"; do
  [ -e "$f" ] || { echo "run-wine-tests: $f is missing: build vtokend vtoken vtoken-pkcs11 vtoken-signing-service first" >&2; exit 2; }
done

scratch=$(mktemp -d "${TMPDIR:-/tmp}/vtoken-ksp.XXXXXX")
agent_pid=
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  service_stop 2>/dev/null
  WINEPREFIX=$scratch/wine wineserver -k >/dev/null 2>&1
  rm -rf "$scratch"
}
trap cleanup EXIT

# --- 1, 2: build, export table ------------------------------------------------
echo "# building cng-provider with mingw-w64 in $ksp_build"
check "mingw-w64 configure" cmake -S "$src" -B "$ksp_build" -DCMAKE_TOOLCHAIN_FILE="$src/mingw-w64-x86_64.cmake" -DCMAKE_BUILD_TYPE=Release
check "mingw-w64 build" cmake --build "$ksp_build" -j2
dll=$ksp_build/vtoken-ksp.dll
[ -f "$dll" ] || { not_ok "vtoken-ksp.dll was built"; finish; }
exports=$(x86_64-w64-mingw32-objdump -p "$dll" | sed -n '/\[Ordinal\/Name Pointer\] Table/,/^$/p' | grep -E '^\s*\[ *[0-9]+\] ' | awk '{print $NF}')
if [ "$exports" = GetKeyStorageInterface ]; then ok "vtoken-ksp.dll exports only GetKeyStorageInterface"; else
  not_ok "vtoken-ksp.dll exports only GetKeyStorageInterface (exports: $(echo $exports))"
fi
imports=$(x86_64-w64-mingw32-objdump -p "$dll" | awk '/DLL Name:/ {print $3}' | tr '\n' ' ')
if echo "$imports" | grep -Eqi 'libstdc|libgcc|winpthread'; then not_ok "vtoken-ksp.dll needs only system DLLs ($imports)"; else
  ok "vtoken-ksp.dll needs only system DLLs ($imports)"
fi

# --- 3: Wine prefix, agent ------------------------------------------------------
mkdir -p "$scratch"/{run,data,config,out,pki}
chmod 700 "$scratch/run"
export XDG_RUNTIME_DIR=$scratch/run XDG_DATA_HOME=$scratch/data XDG_CONFIG_HOME=$scratch/config

export WINEPREFIX=$scratch/wine WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
echo "# wineboot --init (private prefix $WINEPREFIX), the signing service meanwhile"
wineboot --init >"$scratch/wineboot.log" 2>&1 &
wineboot_pid=$!

# The reference signing service (test mode) for the cloud phase; the agent's
# [cloud] configuration must exist before it starts. tests/integration/service.sh
# uses $build, $scratch and $vtoken.
source "$src/../tests/integration/service.sh"
check "the signing service starts (test mode)" service_start
check "a demo account" service_account alice@example.org
cloud_rsa=$(service_credential alice@example.org --key rsa2048 --scal 1 --multisign 10 --quota 1000 --label cloud-rsa)
cloud_ec=$(service_credential alice@example.org --key p256 --scal 2 --quota 1000 --label cloud-ec)
check "an RSA SCAL1 and an EC P-256 SCAL2 credential" test -n "$cloud_rsa" -a -n "$cloud_ec"
service_pinentry
service_configure_agent  # authorization = command: codes from oathtool, no person
if wait "$wineboot_pid"; then ok "wineboot --init"; else
  not_ok "wineboot --init"
  tail -n 25 "$scratch/wineboot.log" | sed 's/^/    /'
fi
wineserver -w

# start_agent: vtokend with the loopback TCP listener (--tcp-listen, or
# agent.tcp_listen in the configuration; any free port); waits for its endpoint file.
endpoint=$XDG_RUNTIME_DIR/vtoken/agent-tcp.txt
start_agent() {
  rm -f "$endpoint"
  VTOKEN_AGENT_LOG=$scratch/agent.log "$vtokend" --tcp-listen 127.0.0.1:0 >>"$scratch/agent.out" 2>&1 &
  agent_pid=$!
  for _ in $(seq 100); do [ -s "$endpoint" ] && return 0; sleep 0.1; done
  sed 's/^/    /' "$scratch/agent.out" "$scratch/agent.log" 2>/dev/null | tail -n 20
  return 1
}
stop_agent() { kill "$agent_pid" && wait "$agent_pid" 2>/dev/null; agent_pid=; }
if start_agent; then ok "vtokend writes the TCP endpoint file"; else
  not_ok "vtokend writes the TCP endpoint file ($endpoint)"
  finish
fi
mode=$(stat -c %a "$endpoint")
if [ "$mode" = 600 ]; then ok "the endpoint file is private (0600)"; else not_ok "the endpoint file is private (mode $mode)"; fi
port=$(sed -n 's/^port=//p' "$endpoint")
check "the TCP listener is on loopback only" sh -c "ss -ltn | grep -q '127.0.0.1:$port '"
check "a connection without the secret is closed unanswered" python3 "$here/tcp_probe.py" "$port" wrong
check "a connection with the secret gets a hello reply" python3 "$here/tcp_probe.py" "$port" "$(sed -n 's/^secret=//p' "$endpoint")"

# --- 4: token, keys, certificates -------------------------------------------------
p11() { pkcs11-tool --module "$module" "$@"; }
login=(--token-label ksp --login --pin "$pin")
check "vtoken token create" "$vtoken" token create ksp --pin "$pin" --puk "$puk"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$scratch/pki/ca.key" -out "$scratch/pki/ca.pem" -subj "/CN=vtoken KSP test CA" -days 30 >/dev/null 2>&1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$scratch/pki/foreign.key" \
  -outform DER -out "$scratch/pki/foreign.der" -subj "/CN=not a vtoken certificate" -days 30 >/dev/null 2>&1
make_cert() {  # ID KEYTYPE LABEL
  local id=$1 type=$2 label=$3
  p11 "${login[@]}" --keypairgen --key-type "$type" --id "$id" --label "$label" || return 1
  if [ "${type%%:*}" = EC ]; then  # pkcs11-tool --read-object cannot export P-384 keys with OpenSSL 3
    p11 --token-label ksp --list-objects --type pubkey | python3 "$here/ec_pubkey.py" "$id" "$scratch/pki/pub$id.pem"
  else
    p11 "${login[@]}" --read-object --type pubkey --id "$id" -o "$scratch/pki/pub$id.der" &&
      openssl pkey -pubin -inform DER -in "$scratch/pki/pub$id.der" -out "$scratch/pki/pub$id.pem"
  fi || return 1
  openssl req -new -key "$scratch/pki/ca.key" -subj "/CN=vtoken KSP test $label" |
    openssl x509 -req -CA "$scratch/pki/ca.pem" -CAkey "$scratch/pki/ca.key" -force_pubkey "$scratch/pki/pub$id.pem" \
      -set_serial "0x$id$RANDOM" -days 30 -outform DER -out "$scratch/pki/cert$id.der" &&
    p11 "${login[@]}" --write-object "$scratch/pki/cert$id.der" --type cert --id "$id" --label "$label"
}
check "RSA-2048 key 01 and its certificate" make_cert 01 rsa:2048 rsa2048
check "EC P-256 key 02 and its certificate" make_cert 02 EC:prime256v1 p256
check "EC P-384 key 03 and its certificate" make_cert 03 EC:secp384r1 p384

# --- 5: Windows side -----------------------------------------------------------------
# The registration a real machine gets from BCryptRegisterProvider (README.md).
# Wine's ncrypt.dll does not consult it; written so the router test shows that.
providers='HKLM\SYSTEM\CurrentControlSet\Control\Cryptography\Providers\vtoken Key Storage Provider'
check "vtoken-ksp-register.exe (BCryptRegisterProvider) succeeds" wine "$ksp_build/vtoken-ksp-register.exe"
if ! wine reg query "$providers" >/dev/null 2>&1; then
  echo "# WINE GAP: BCryptRegisterProvider is a stub in Wine (returns success, writes no registry keys); writing them with wine reg add"
fi
check "register the provider in Wine's registry" sh -c "
  wine reg add '$providers\\UM' /v Image /t REG_SZ /d '$(winpath "$dll")' /f &&
  wine reg add '$providers\\UM\\00010001' /v Functions /t REG_MULTI_SZ /d KEY_STORAGE /f"

export VTOKEN_KSP_TEST_KEY VTOKEN_AGENT_TCP_FILE VTOKEN_KSP_DLL VTOKEN_CERTSYNC VTOKEN_KSP_TEST_OUT VTOKEN_KSP_TEST_PIN VTOKEN_KSP_TEST_FOREIGN_CERT VTOKEN_KSP_LOG
VTOKEN_AGENT_TCP_FILE=$(winpath "$endpoint")
VTOKEN_KSP_DLL=$(winpath "$dll")
VTOKEN_CERTSYNC=$(winpath "$ksp_build/vtoken-certsync.exe")
VTOKEN_KSP_TEST_OUT=$(winpath "$scratch/out")
VTOKEN_KSP_TEST_PIN=$pin
VTOKEN_KSP_TEST_FOREIGN_CERT=$(winpath "$scratch/pki/foreign.der")
VTOKEN_KSP_LOG=$scratch/ksp.log  # read by the DLL through the C runtime: a Unix path works under Wine
VTOKEN_KSP_LOG=$(winpath "$VTOKEN_KSP_LOG")

run_exe() {  # NAME [ARGS]: runs a Catch2 program, adds its "N passed, N failed" to ours
  local name=$1 out=$scratch/$1.out
  shift
  wine "$ksp_build/$name.exe" "$@" >"$out" 2>&1
  local rc=$? line
  tr -d '\r' <"$out" | grep -E '^(WINE GAP|ncrypt.dll routed)' | sed "s/^/# $name: /"
  line=$(tr -d '\r' <"$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
  if [ -z "$line" ]; then
    not_ok "$name.exe ran to the end (exit $rc)"
    tr -d '\r' <"$out" | tail -n 40 | sed 's/^/    /'
    return
  fi
  local p f
  p=${line%% passed*}
  f=${line#*, }
  f=${f%% failed}
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$rc" -eq 0 ] && [ "$f" -eq 0 ]; then echo "ok - $name.exe: $line"; else
    echo "not ok - $name.exe: $line (exit $rc)"
    tr -d '\r' <"$out" | grep -v '^$' | tail -n 60 | sed 's/^/    /'
  fi
}
echo "# Windows tests under $(wine --version)"
run_exe ksp-unit-tests
run_exe ksp-wine-tests
cer=$(ls "$scratch/out/"*_01.cer 2>/dev/null | head -n 1)
if [ -n "$cer" ] && "$vtoken" token unplug ksp >/dev/null 2>&1; then
  VTOKEN_KSP_TEST_KEY=$(basename "$cer" .cer | tr _ :) run_exe ksp-wine-tests "[unplugged]"
  check "vtoken token plug" "$vtoken" token plug ksp
else
  not_ok "unplug the token for the unplugged-token test"
fi

# --- 6: the cloud token ----------------------------------------------------------------
# Keys not on the emulated token are the cloud token's (wine_tests.cpp CloudKeys).
export VTOKEN_KSP_TEST_EMULATED_SERIAL VTOKEN_KSP_TEST_PINENTRY_LOG
VTOKEN_KSP_TEST_EMULATED_SERIAL=$(basename "$(ls "$scratch/out/"*_01.cer 2>/dev/null | head -n 1)" .cer | cut -d_ -f2)
VTOKEN_KSP_TEST_PINENTRY_LOG=$(winpath "$SERVICE_DIR/pinentry.log")
check "vtoken login --no-browser (cloud token, code from oathtool)" service_login
run_exe ksp-wine-tests "[cloud]"
# The same agent protocol with cloud.authorization = prompt: a person (the
# scripted pinentry) gives each code. The agent reads its configuration at start.
service_configure_agent "authorization = prompt" "pinentry = $SERVICE_PINENTRY"
: >"$SERVICE_DIR/pinentry.log"
stop_agent
if start_agent && service_login >"$scratch/login.log" 2>&1; then
  ok "vtokend with a pinentry, logged in again"
  run_exe ksp-wine-tests "[cloud-prompt]"
  check "the pinentry was asked exactly twice (the silent requests asked nobody)" test "$(grep -c '^GETPIN' "$SERVICE_DIR/pinentry.log")" = 2
else
  not_ok "vtokend with a pinentry, logged in again"
  sed 's/^/    /' "$scratch/login.log"
fi
for cer in "$scratch/out/"*.cer; do
  case $(basename "$cer") in vtoken_"$VTOKEN_KSP_TEST_EMULATED_SERIAL"_* | *-*.cer) continue ;; esac  # -variant: copies
  check "the cloud certificate $(basename "$cer") is issued by the signing service's CA" \
    sh -c "openssl x509 -inform DER -in '$cer' | openssl verify -CAfile '$SERVICE_CA'"
done

# --- 7: OpenSSL verifies what the Windows side signed ---------------------------------
raw_to_der() {  # RAW DER: CNG's r||s to the DER ECDSA-Sig-Value OpenSSL reads
  python3 - "$1" "$2" <<'EOF'
import sys
raw = open(sys.argv[1], 'rb').read()
half = len(raw) // 2
def integer(b):
    b = b.lstrip(b'\0') or b'\0'
    if b[0] & 0x80: b = b'\0' + b
    return b'\x02' + bytes([len(b)]) + b
body = integer(raw[:half]) + integer(raw[half:])
length = bytes([len(body)]) if len(body) < 128 else b'\x81' + bytes([len(body)])
open(sys.argv[2], 'wb').write(b'\x30' + length + body)
EOF
}
verify() {  # SIG HASH CERT MODE DIGEST SALT
  local sig=$scratch/out/$1 hash=$scratch/out/$2 cert=$scratch/out/$3 mode=$4 digest=$5 salt=$6
  openssl x509 -inform DER -in "$cert" -pubkey -noout >"$scratch/verify-pub.pem" || return 1
  local opts=(-verify -pubin -inkey "$scratch/verify-pub.pem" -in "$hash")
  case $mode in
    pkcs1) [ "$digest" = none ] || opts+=(-pkeyopt "digest:$digest") ;;
    pss) opts+=(-pkeyopt rsa_padding_mode:pss -pkeyopt "rsa_pss_saltlen:$salt" -pkeyopt "digest:$digest") ;;
    ecdsa) raw_to_der "$sig" "$sig.der" || return 1; sig=$sig.der ;;
  esac
  openssl pkeyutl "${opts[@]}" -sigfile "$sig"
}
manifest=$scratch/out/manifest.txt
if [ -s "$manifest" ]; then
  while read -r sig hash cert mode digest salt; do
    sig=${sig%$'\r'} salt=${salt%$'\r'}
    check "OpenSSL verifies $sig ($mode${digest:+ $digest})" verify "$sig" "$hash" "$cert" "$mode" "$digest" "$salt"
  done < <(tr -d '\r' <"$manifest")
else
  not_ok "the Windows tests wrote signatures for OpenSSL ($manifest)"
fi
# The certificate each key carries is the one provisioned for it.
for id in 01 02 03; do
  cer=$(ls "$scratch/out/"*"_$id.cer" 2>/dev/null | head -n 1)
  check "NCRYPT_CERTIFICATE_PROPERTY of key $id is the provisioned certificate" cmp "$scratch/pki/cert$id.der" "$cer"
done

if [ "$failed" -ne 0 ]; then
  echo "# provider log:"
  tail -n 30 "$scratch/ksp.log" 2>/dev/null | sed 's/^/    /'
fi
finish
