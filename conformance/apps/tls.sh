#!/usr/bin/env bash
# TLS client authentication with the token's keys, against `openssl s_server
# -Verify 1` on 127.0.0.1 (trusting the CA of the token's certificates), over TLS 1.2 and TLS 1.3
# (RSA-PSS with the RSA key), with three clients:
#   openssl s_client and curl through the libp11 engine,
#   gnutls-cli with a pkcs11: URL (module given with --provider: p11-kit
#   ignores per-user module files for root, and tests may run as root).
# The server's page (-www) shows the client certificate it verified.
source "$(dirname "$0")/lib.sh"
setup_token
setup "TLS server certificate for 127.0.0.1" server_cert server

request=$'GET / HTTP/1.0\r\n\r\n'

# serve VERSION: one s_server that accepts one connection with VERSION only.
serve() {
  start_server "$work/server.log" openssl s_server -accept 127.0.0.1:0 -naccept 1 -"$1" \
    -Verify 1 -CAfile "$work/ca.pem" -cert "$work/server.pem" -key "$work/server.key" -www
}
# saw KEY VERSION: the page and the server's log show the client certificate.
saw() {
  local cn version=TLSv${2#tls}
  cn=$(cn_of "$1")
  version=${version/_/.}
  stop_server
  if grep -q "Protocol  *: $version" "$work/page" &&
    grep -Eq "Subject: .*CN *= *$cn" "$work/page" &&
    grep -Eq "^depth=0 .*CN *= *$cn" "$work/server.log" &&
    ! grep -q "no client certificate" "$work/page"; then
    return 0
  fi
  echo "expected $version and the client certificate CN=$cn on the server's page and in its log"
  echo "--- client output:" && tail -n 15 "$work/page"
  echo "--- server log:" && tail -n 15 "$work/server.log"
  return 1
}

s_client() {  # KEY VERSION
  serve "$2"
  printf '%s' "$request" | OPENSSL_CONF=$work/openssl.cnf app timeout 120 openssl s_client -connect "127.0.0.1:$port" -"$2" -quiet -verify_return_error -CAfile "$work/server-ca.pem" \
    -engine pkcs11 -keyform engine -key "$(key_uri_pin "$1")" -cert "$work/$1.pem" >"$work/page" 2>&1
  saw "$1" "$2"
}

curl_client() {  # KEY VERSION
  serve "$2"
  local v=${2#tls}
  v=${v/_/.}
  OPENSSL_CONF=$work/openssl.cnf app timeout 120 curl -sS --fail-with-body --tlsv"$v" --tls-max "$v" \
    --cacert "$work/server-ca.pem" --engine pkcs11 --key-type ENG --key "$(key_uri_pin "$1")" \
    --cert "$work/$1.pem" "https://127.0.0.1:$port/" >"$work/page" 2>&1
  saw "$1" "$2"
}

gnutls_client() {  # KEY VERSION
  serve "$2"
  local v=${2#tls}
  v=${v/_/.}
  printf '%s' "$request" | GNUTLS_PIN=$pin app timeout 120 gnutls-cli --provider "$module" \
    --priority "NORMAL:-VERS-ALL:+VERS-TLS$v" --x509cafile "$work/server-ca.pem" \
    --x509certfile "$work/$1.pem" --x509keyfile "$(key_uri "$1")" -p "$port" 127.0.0.1 >"$work/page" 2>&1
  saw "$1" "$2"
}

for key in "${keys[@]}"; do
  for version in tls1_2 tls1_3; do
    check "openssl s_client, $key, ${version/_/.}: server verified the client certificate" s_client "$key" "$version"
    check "curl, $key, ${version/_/.}: server verified the client certificate" curl_client "$key" "$version"
    check "gnutls-cli (pkcs11: URL), $key, ${version/_/.}: server verified the client certificate" \
      gnutls_client "$key" "$version"
  done
done
finish
