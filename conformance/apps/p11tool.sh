#!/usr/bin/env bash
# GnuTLS p11tool and OpenSC pkcs11-tool against the token: listing with a
# login shows each private key and certificate; p11tool --test-sign signs and
# verifies with each key; pkcs11-tool --test --login passes its self-test.
source "$(dirname "$0")/lib.sh"
setup_token

p11tool_() { GNUTLS_PIN=$pin app timeout 120 p11tool --provider "$module" "$@"; }
token_url="pkcs11:token=$label"
expect_output "p11tool --list-all --login shows the private keys" "Type: Private key.*" \
  p11tool_ --list-all --login "$token_url"
listed() {  # what must all appear in p11tool --list-all --login
  p11tool_ --list-all --login "$token_url" >"$work/list.txt" 2>&1
  cat "$work/list.txt"
  local item
  for item in "object=rsa-key;type=private" "object=ec-key;type=private" "object=rsa-key;type=cert" \
    "object=ec-key;type=cert"; do
    grep -q "$item" "$work/list.txt" || { echo "missing: $item"; return 1; }
  done
  [ "$(grep -c 'Type: X.509 Certificate' "$work/list.txt")" -eq 3 ] || { echo "not 3 certificates (2 keys' + the CA)"; return 1; }
}
check "p11tool --list-all --login lists both private keys and three certificates (with the CA)" listed
for key in "${keys[@]}"; do
  expect_output "p11tool --test-sign with $key: signed and verified" "Verifying against public key in the token\.\.\. ok" \
    p11tool_ --test-sign --login "$(key_uri "$key")"
done
[ -n "$wrong_pin" ] && expect_fail "p11tool --test-sign with a wrong PIN fails" bash -c \
  "GNUTLS_PIN=$wrong_pin LD_PRELOAD='$app_preload' timeout 120 p11tool --provider '$module' --test-sign --login '$(key_uri rsa-key)'"
login=(--login)
[ -n "$pin" ] && login+=(--pin "$pin")
check "pkcs11-tool --test --login" p11 --token-label "$label" "${login[@]}" --test
expect_fail "pkcs11-tool --test reports no failure" grep -Eiq "failed|error|ERR" "$work/last.log"
finish
