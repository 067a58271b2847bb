# Shared setup for the application scripts: conformance/apps/X.sh BUILD_DIR [KIND].
# KIND is the token the applications use: "emulated" (default) or "cloud".
# On top of tests/integration/lib.sh (own XDG directories and HOME, the agent
# stopped on exit, check/expect_fail/expect_output/finish), setup_token gives:
#   $label          the token label           $pin   its PIN
#   $keys           key labels (rsa-key ec-key); each key's certificate in
#                   $work/<key>.pem, issued by the test CA $work/ca.pem
#   key_uri KEY     the key's pkcs11: URI (without PIN)
#   $work/openssl.cnf  OpenSSL config loading the libp11 engine with the module
# and `vtoken register` has put the module into ~/.pki/nssdb and the user's
# p11-kit configuration.
apps_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$apps_dir/../../tests/integration/lib.sh" "$1"
kind=${2:-emulated}
export HOME=$scratch/home
mkdir -p "$HOME"
label=apps-$kind
pin=123456
wrong_pin=999999
keys=(rsa-key ec-key)

step() { printf '# %s\n' "$*"; }
# die MESSAGE: a setup step failed; nothing after it can be meaningful.
die() {
  echo "not ok - $*"
  sed 's/^/    /' "$work/last.log" 2>/dev/null | tail -n 20
  echo "$(basename "$0" .sh): setup failed"
  exit 1
}
setup() {  # setup "what" COMMAND...: like check, but stops the script on failure
  "${@:2}" >"$work/last.log" 2>&1 || die "$1"
}

key_uri() { printf 'pkcs11:token=%s;object=%s' "$label" "$1"; }
# key_uri_pin KEY: the URI with the PIN in it (none when the token takes an empty PIN).
key_uri_pin() { key_uri "$1"; [ -n "$pin" ] && printf ';pin-value=%s' "$pin"; return 0; }
# cn_of KEY: the common name in $work/KEY.pem (a key's certificate, or "ca").
cn_of() { openssl x509 -in "$work/$1.pem" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= //p'; }
ossl() { OPENSSL_CONF=$work/openssl.cnf app openssl "$@"; }

make_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=vtoken apps test CA/O=vtoken" -keyout "$work/ca.key" -out "$work/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}
# issue KEY CN: a certificate for the token key KEY, from a CSR the token signs.
issue() {
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,nonRepudiation" \
    "extendedKeyUsage=clientAuth,emailProtection,codeSigning" >"$work/leaf.ext"
  ossl req -new -engine pkcs11 -keyform engine -key "$(key_uri "$1");pin-value=$pin" \
    -subj "/CN=$2/O=vtoken" -out "$work/$1.csr" &&
    openssl x509 -req -in "$work/$1.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
      -days 2 -extfile "$work/leaf.ext" -out "$work/$1.pem"
}
# server_cert NAME: a TLS server certificate for 127.0.0.1, key in a file,
# issued by a CA of its own ($work/server-ca.pem, what clients trust).
server_cert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=vtoken apps server CA" \
    -keyout "$work/server-ca.key" -out "$work/server-ca.pem" -addext "basicConstraints=critical,CA:TRUE" &&
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$work/$1.key" -out "$work/$1.csr" &&
    openssl x509 -req -in "$work/$1.csr" -CA "$work/server-ca.pem" -CAkey "$work/server-ca.key" -CAcreateserial \
      -days 2 -extfile <(printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n') -out "$work/$1.pem"
}

setup_emulated() {
  setup "create the emulated token $label" "$vtoken" token create "$label" --label "$label" --pin "$pin" --puk 12345678
  setup "generate RSA-2048 key rsa-key on the token" \
    p11 --token-label "$label" --login --pin "$pin" --keypairgen --key-type rsa:2048 --id 01 --label rsa-key
  setup "generate P-256 key ec-key on the token" \
    p11 --token-label "$label" --login --pin "$pin" --keypairgen --key-type EC:prime256v1 --id 02 --label ec-key
  setup "make the test CA" make_ca
  setup "certificate for rsa-key (CSR signed on the token)" issue rsa-key "apps rsa"
  setup "certificate for ec-key (CSR signed on the token)" issue ec-key "apps ec"
  local id=01 key
  for key in "${keys[@]}"; do
    openssl x509 -in "$work/$key.pem" -outform DER -out "$work/$key.der"
    setup "store the certificate of $key on the token" \
      p11 --token-label "$label" --login --pin "$pin" --write-object "$work/$key.der" --type cert --id "$id" --label "$key"
    id=02
  done
  openssl x509 -in "$work/ca.pem" -outform DER -out "$work/ca.der"
  setup "store the CA certificate on the token (the chain)" \
    p11 --token-label "$label" --login --pin "$pin" --write-object "$work/ca.der" --type cert --id 99 --label apps-ca
}

# The cloud token: the reference signing service (tests/integration/service.sh)
# with an account holding an RSA-2048 and a P-256 credential (SCAL1, a batch
# per code), the agent logged in with password + TOTP, and codes for each
# signature from the agent's otp_command. Its PIN is empty (protected
# authentication path): applications log in without one.
setup_cloud() {
  source "$repo/tests/integration/service.sh"
  label=apps@example.org
  pin=""
  wrong_pin=""
  setup "start the reference signing service" service_start
  setup "service account $label" service_account "$label"
  local key type id
  for key in "${keys[@]}"; do
    # ec-key's certificate outlives rsa-key's: Chromium orders the two
    # (same subject) by validity, and browser.sh relies on that order.
    [ "$key" = rsa-key ] && type="rsa2048 --years 1" || type="p256 --years 2"
    # shellcheck disable=SC2086
    id=$(service_credential "$label" --key $type --scal 1 --multisign 100 --label "$key" 2>"$work/last.log")
    [ -n "$id" ] || die "issue the $type credential $key"
  done
  # apps_cloud_pinentry=1 (set before sourcing): the agent asks for the codes
  # through its own prompt, the scripted pinentry (service_pinentry) that
  # logs what it was asked in $SERVICE_DIR/pinentry.log; else otp_command.
  local agent_config=("scal1_window_seconds = 600")
  if [ "${apps_cloud_pinentry:-0}" = 1 ]; then
    service_pinentry
    agent_config+=("authorization = prompt" "pinentry = $SERVICE_PINENTRY")
  fi
  service_configure_agent "${agent_config[@]}"
  setup "vtoken login (password + TOTP): the cloud token appears" service_login
  for key in "${keys[@]}"; do
    setup "read the certificate of $key from the cloud token" \
      p11 --token-label "$label" --read-object --type cert --label "$key" -o "$work/$key.der"
    openssl x509 -inform DER -in "$work/$key.der" -out "$work/$key.pem"
  done
  cp "$SERVICE_CA" "$work/ca.pem"
  setup "the certificates chain to the service's CA" openssl verify -CAfile "$work/ca.pem" "$work/rsa-key.pem" "$work/ec-key.pem"
}

setup_token() {
  openssl_engine_conf "$module" >"$work/openssl.cnf"
  case $kind in
    emulated) setup_emulated ;;
    cloud) setup_cloud ;;
    *) die "unknown token kind '$kind' (emulated or cloud)" ;;
  esac
  # app: vtoken runs modutil, which loads the module (ASan runtime preloaded).
  setup "vtoken register (p11-kit module file, ~/.pki/nssdb)" app "$vtoken" register --module "$module"
  step "token '$label' ($kind) with ${keys[*]} and their certificates; module registered"
}

# start_server LOG COMMAND...: starts a server in the background that prints
# "ACCEPT 127.0.0.1:PORT" when it listens (openssl s_server -accept 127.0.0.1:0)
# and sets $server_pid and $port.
start_server() {
  local log=$1 i
  shift
  "$@" >"$log" 2>&1 </dev/null &
  server_pid=$!
  port=""
  for i in $(seq 1 200); do
    port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")
    [ -n "$port" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  die "server did not start: $(head -c 500 "$log")"
}
# stop_server: waits for a server started with -naccept 1 (it exits after
# its one connection, a few ms after the client); kills it if it is still up.
stop_server() {
  local i
  for i in $(seq 1 100); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  kill "$server_pid" 2>/dev/null
  wait "$server_pid" 2>/dev/null
  server_pid=""
  return 0
}
server_pid=""
apps_cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  cleanup
  # service.sh starts the service from a subshell ($SERVICE_PID): stop the
  # service itself too, or the subshell waits for it and keeps our output open.
  if [ -n "${SERVICE_PID:-}" ]; then
    local child
    for child in $(pgrep -P "$SERVICE_PID"); do kill "$child" 2>/dev/null; done
    kill "$SERVICE_PID" 2>/dev/null
  fi
  return 0
}
trap apps_cleanup EXIT
