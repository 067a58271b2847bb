#!/usr/bin/env bash
# OpenSSL with the cloud token's keys through the libp11 engine: plain
# signatures (RSA PKCS#1, RSA-PSS, ECDSA) and TLS client authentication,
# TLS 1.2 and TLS 1.3 (RSA-PSS), against `openssl s_server -Verify` that
# trusts the signing service's CA — the real service, agent and module. The
# keys are SCAL1 credentials, so one code opens a window that covers every
# signature of a credential here (cloud.scal1_window_seconds).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/service.sh"

service_start || exit 1
service_account alice@example.org || exit 1
rsa_id=$(service_credential alice@example.org --key rsa2048 --scal 1 --multisign 20 --label tls-rsa)
ec_id=$(service_credential alice@example.org --key p256 --scal 1 --multisign 20 --label tls-ec)
check "credentials issued" test -n "$rsa_id" -a -n "$ec_id"
service_configure_agent "scal1_window_seconds = 600"
check "log in" service_login

openssl_engine_conf "$module" >"$work/openssl.cnf"
engine() { OPENSSL_CONF=$work/openssl.cnf app "$@"; }
uri() { echo "pkcs11:token=alice@example.org;object=$1;type=private"; }
steps() { cat "$SERVICE_DIR/step"; }
echo "data signed through the engine" >"$work/data"
for label in tls-rsa tls-ec; do
  p11 --token-label alice@example.org --read-object --type cert --label "$label" -o "$work/$label.der" >/dev/null 2>&1
  openssl x509 -inform DER -in "$work/$label.der" -out "$work/$label.pem"
  openssl x509 -in "$work/$label.pem" -pubkey -noout >"$work/$label.pub"
done
check "the certificates are read from the token" test -s "$work/tls-rsa.pub" -a -s "$work/tls-ec.pub"

# --- signatures through the engine ---
before=$(steps)
check "openssl dgst -sign, RSA PKCS#1 v1.5 (engine key)" \
  engine openssl dgst -sha256 -engine pkcs11 -keyform engine -sign "$(uri tls-rsa)" -out "$work/rsa.sig" "$work/data"
check "... verifies with the certificate's key" openssl dgst -sha256 -verify "$work/tls-rsa.pub" -signature "$work/rsa.sig" "$work/data"
check "openssl dgst -sign, RSA-PSS" engine openssl dgst -sha384 -engine pkcs11 -keyform engine -sign "$(uri tls-rsa)" \
  -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest -out "$work/pss.sig" "$work/data"
check "... verifies as PSS" openssl dgst -sha384 -verify "$work/tls-rsa.pub" -sigopt rsa_padding_mode:pss \
  -sigopt rsa_pss_saltlen:digest -signature "$work/pss.sig" "$work/data"
check "openssl dgst -sign, ECDSA" engine openssl dgst -sha256 -engine pkcs11 -keyform engine -sign "$(uri tls-ec)" \
  -out "$work/ec.sig" "$work/data"
check "... verifies (DER from the engine, raw r||s from the module)" \
  openssl dgst -sha256 -verify "$work/tls-ec.pub" -signature "$work/ec.sig" "$work/data"
expect_fail "a signature does not verify other data" \
  sh -c "echo other | openssl dgst -sha256 -verify '$work/tls-rsa.pub' -signature '$work/rsa.sig'"

# --- TLS client authentication ---
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/server.key" -out "$work/server.pem" \
  -subj /CN=127.0.0.1 -days 1 >/dev/null 2>&1
# handshake NAME LABEL S_CLIENT_OPTIONS...: s_server (one connection, -www,
# client certificate required and verified against the service CA) and
# s_client with the engine key; the server's status page and log are kept.
handshake() {
  local name=$1 label=$2 port i
  shift 2
  OPENSSL_CONF=/dev/null timeout 60 openssl s_server -accept 127.0.0.1:0 -naccept 1 -www -Verify 1 -verify_return_error \
    -CAfile "$SERVICE_CA" -cert "$work/server.pem" -key "$work/server.key" >"$work/$name.server" 2>&1 &
  local server=$!
  for i in $(seq 1 200); do
    port=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\)$/\1/p' "$work/$name.server")
    [ -n "$port" ] && break
    sleep 0.05
  done
  printf 'GET / HTTP/1.0\r\n\r\n' | engine timeout 60 openssl s_client -ign_eof -connect "127.0.0.1:$port" \
    -engine pkcs11 -keyform engine -key "$(uri "$label")" -cert "$work/$label.pem" -CAfile "$work/server.pem" "$@" \
    >"$work/$name.client" 2>&1
  local rc=$?
  [ $rc -eq 0 ] || kill "$server" 2>/dev/null  # a client that never connected leaves it waiting
  wait "$server"
  sed -n '/HTTP\/1.0 200/,$p' "$work/$name.client" >"$work/$name.page"
  return $rc
}
# served NAME REGEX...: every REGEX is in the server's status page of NAME.
served() {
  local name=$1 r
  shift
  for r in "$@"; do grep -Eq -- "$r" "$work/$name.page" || { echo "no /$r/ in:"; cat "$work/$name.page"; return 1; }; done
}
server_verified() {
  grep -q "depth=0 CN = alice@example.org" "$work/$1.server" && grep -q "1 server accepts that finished" "$work/$1.server"
}

before_tls=$(steps)
check "TLS 1.3, RSA key: handshake with client authentication" handshake t13rsa tls-rsa -tls1_3
check "... the server verified alice's certificate" server_verified t13rsa
check "... TLS 1.3 with an RSA-PSS client signature" served t13rsa "New, TLSv1.3" "Peer signature type: RSA-PSS" "Client certificate"
check "TLS 1.2, RSA key, PKCS#1 v1.5 (RSA+SHA256)" handshake t12rsa tls-rsa -tls1_2 -sigalgs RSA+SHA256:ECDSA+SHA256
check "... the server verified alice's certificate" server_verified t12rsa
check "... TLS 1.2 with an RSA PKCS#1 client signature" served t12rsa "New, TLSv1.2" "Peer signature type: RSA$" "Client certificate"
check "TLS 1.2, RSA key, RSA-PSS" handshake t12pss tls-rsa -tls1_2
check "... RSA-PSS under TLS 1.2 too" served t12pss "New, TLSv1.2" "Peer signature type: RSA-PSS"
check "TLS 1.3, EC key" handshake t13ec tls-ec -tls1_3
check "... the server verified alice's certificate" server_verified t13ec
check "... ECDSA client signature" served t13ec "New, TLSv1.3" "Peer signature type: ECDSA"
check "TLS 1.2, EC key" handshake t12ec tls-ec -tls1_2
check "... ECDSA client signature" served t12ec "New, TLSv1.2" "Peer signature type: ECDSA"
check "SCAL1 window: one code per credential for all engine and TLS signatures" test "$(($(steps) - before))" = 2
check "... none more for the five handshakes" test "$(steps)" = "$before_tls"

# A key that does not belong to the certificate: no handshake.
mismatch() { handshake mismatch tls-ec -tls1_3 -cert "$work/tls-rsa.pem"; }
expect_fail "TLS with the EC key under the RSA certificate fails" mismatch
finish
