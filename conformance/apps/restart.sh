#!/usr/bin/env bash
# Across removal and restart: the same applications (openssl cms through the
# libp11 engine, GnuTLS p11tool, ssh-keygen -D) work with the token, give a
# clear error (and no hang) while it is absent, work again once it is back,
# and after the agent is stopped and restarted on demand by the module.
#   emulated: absent = `vtoken token unplug`, back = `vtoken token plug`;
#             unplugged stays unplugged across an agent restart.
#   cloud:    absent = `vtoken logout` (as when the session expires), back =
#             `vtoken login` again; an agent restart ends the session, so the
#             token is absent until the next login.
source "$(dirname "$0")/lib.sh"
setup_token
echo "restart test document" >"$work/doc.txt"

cms_sign() {
  rm -f "$work/doc.p7s"
  ossl cms -sign -engine pkcs11 -keyform engine -inkey "$(key_uri_pin rsa-key)" \
    -signer "$work/rsa-key.pem" -in "$work/doc.txt" -binary -outform DER -out "$work/doc.p7s" &&
    openssl cms -verify -binary -inform DER -in "$work/doc.p7s" -content "$work/doc.txt" \
      -CAfile "$work/ca.pem" -purpose any -out /dev/null
}
p11tool_sign() { GNUTLS_PIN=$pin app timeout 120 p11tool --provider "$module" --test-sign --login "$(key_uri ec-key)"; }
ssh_keys() { app timeout 120 ssh-keygen -D "$module"; }
# Each run is bounded: a hang is a failure (timeout's status 124), not a stuck test.
works() {  # WHEN
  check "$1: openssl cms signs and the signature verifies" cms_sign
  expect_output "$1: p11tool --test-sign with ec-key" "Verifying against public key in the token\.\.\. ok" p11tool_sign
  expect_output "$1: ssh-keygen -D lists the keys" "^ecdsa-sha2-nistp256 " ssh_keys
}
# absent: the application fails, quickly and saying why (no key/token found).
absent() {
  local what=$1 regex=$2
  shift 2
  "$@" >"$work/absent.log" 2>&1
  local rc=$?
  cat "$work/absent.log"
  [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $rc -lt 128 ] && grep -Eiq "$regex" "$work/absent.log"
}

no_keys() { ! ssh_keys | grep -q '^ssh-rsa '; }
absent_checks() {  # WHEN
  check "$1: openssl cms fails (no hang, no crash) saying the key is not found" \
    absent cms "No matching initialized token was found|private key was not found" cms_sign
  check "$1: p11tool fails saying the object is not available" absent p11tool "object is not available" p11tool_sign
  check "$1: ssh-keygen -D lists no key of the token" no_keys
}

if [ "$kind" = emulated ]; then
  works "plugged in"
  check "vtoken token unplug" "$vtoken" token unplug "$label"
  absent_checks "unplugged"
  check "vtoken token plug" "$vtoken" token plug "$label"
  works "plugged back"
  expect_output "vtoken agent stop: the agent exits" "^Agent stopped" "$vtoken" agent stop
  works "agent restarted on demand by the module"
  # Unplugged stays unplugged across an agent restart, as a real token would.
  check "unplug, then stop the agent" bash -c "'$vtoken' token unplug '$label' && '$vtoken' agent stop"
  check "after the restart the token is still absent: openssl cms fails clearly" \
    absent cms "No matching initialized token was found|private key was not found" cms_sign
  check "plug after the restart" "$vtoken" token plug "$label"
  works "plugged after the restart"
else
  works "logged in"
  check "vtoken logout (the session ends, as when it expires)" "$vtoken" logout
  absent_checks "logged out"
  check "vtoken login again" service_login
  works "logged in again"
  expect_output "vtoken agent stop: the agent exits" "^Agent stopped" "$vtoken" agent stop
  absent_checks "agent restarted by the module, no session yet"
  check "vtoken login after the restart" service_login
  works "logged in after the restart"
fi
finish
