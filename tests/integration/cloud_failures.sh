#!/usr/bin/env bash
# The cloud token when the service refuses, end to end: the real signing
# service (test mode), agent and module, pkcs11-tool, codes from a scripted
# pinentry. A certificate that has expired (issued so, or by the service's
# clock), a used-up quota, signing blocked after wrong codes, a session the
# service ended (token removed under an application's open session, back in
# the same slot after a new login), and `vtoken status` (45-day warning,
# signatures left). Each gives the application the CKR_* of
# remote-client/README.md and the agent's log a message saying what to do.
# (Wrong code, a dropped connection, a slow or dead service and a cancelled
# pinentry are in cloud_token.sh.)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/service.sh"

service_start || exit 1
service_account alice@example.org || exit 1
ec_id=$(service_credential alice@example.org --key p256 --scal 1 --multisign 5 --label ec-key)
expired_id=$(service_credential alice@example.org --key p256 --scal 2 --expired --label expired-key)
short_id=$(service_credential alice@example.org --key p256 --scal 2 --days 1 --label short-key)
warn_id=$(service_credential alice@example.org --key p256 --scal 2 --days 45 --label warn-key)
far_id=$(service_credential alice@example.org --key p256 --scal 2 --days 47 --label far-key)
quota_id=$(service_credential alice@example.org --key p256 --scal 2 --quota 2 --label quota-key)
check "credentials issued" test -n "$ec_id" -a -n "$expired_id" -a -n "$short_id" -a -n "$warn_id" -a -n "$far_id" -a -n "$quota_id"
service_pinentry
service_configure_agent "authorization = prompt" "pinentry = $SERVICE_PINENTRY" "timeout_ms = 3000"
export VTOKEN_AGENT_LOG=$work/agent.log
check "log in" service_login

echo "document to sign" >"$work/data"
steps() { cat "$SERVICE_DIR/step"; }
sign_ec() { cloud_sign "$1" ECDSA-SHA256 "$work/$1.sig" --signature-format openssl; }
agent_log() { cat "$work/agent.log"; }
status() { "$vtoken" status; }
# cred_status LABEL: the lines of `vtoken status` about that certificate.
cred_status() { status | awk -v l="$1" '$1 == "certificate" {on = ($2 == l)} on'; }

# --- vtoken status: days left, the 45-day warning ---
expect_output "45 days left: vtoken status warns" "valid: .* 4[45] days left  WARNING: expires within 45 days" cred_status warn-key
expect_output "47 days left: shown" "valid: .* 46 days left" cred_status far-key
expect_no_output "... without a warning" "WARNING" cred_status far-key
expect_no_output "a one-year certificate: no warning" "WARNING" cred_status ec-key

# --- a certificate that has expired ---
expect_output "vtoken status shows the expired certificate" "valid: .*EXPIRED: it cannot sign" cred_status expired-key
before=$(steps)
expect_output "C_Sign with an expired certificate: CKR_KEY_FUNCTION_NOT_PERMITTED" "CKR_KEY_FUNCTION_NOT_PERMITTED" sign_ec expired-key
check "... and nobody was asked for a code" test "$(steps)" = "$before"
expect_output "the agent's log says so and what to do" \
  "credential $expired_id .*the certificate expired on [0-9-]+ — the certificate has expired: ask the signing service for a new one" agent_log
# One valid at login that expires by the service's clock: the service refuses.
check "a one-day certificate signs" sign_ec short-key
service_clock_jump $((2 * 86400))
expect_output "two days later (service clock): CKR_KEY_FUNCTION_NOT_PERMITTED" "CKR_KEY_FUNCTION_NOT_PERMITTED" sign_ec short-key
expect_output "the log has the service's reason and what to do" \
  "Signing certificate is expired — the certificate has expired: ask the signing service for a new one" agent_log
expect_output "vtoken status now shows it expired" "EXPIRED: it cannot sign" cred_status short-key
check "other keys still sign (the service's expired access token was refreshed)" sign_ec warn-key

# --- a quota used up ---
expect_output "vtoken status shows the signatures left" "signatures: 2 left" cred_status quota-key
check "first signature of two" sign_ec quota-key
expect_output "... counted in vtoken status" "signatures: 1 left" cred_status quota-key
# Another client of the same account spends the last one behind the agent's back.
spend_one() {
  local token sad hash
  token=$(curl -sf --cacert "$SERVICE_CA" -u "$SERVICE_EMAIL:$SERVICE_PASSWORD" -H 'Content-Type: application/json' \
    -d "{\"OTP\": \"$(service_code)\"}" "$SERVICE_URL/csc/v2/auth/login" | sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p')
  hash=$(printf 'other device' | openssl dgst -sha256 -binary | base64)
  sad=$(curl -sf --cacert "$SERVICE_CA" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"credentialID\": \"$1\", \"numSignatures\": 1, \"hashes\": [\"$hash\"], \"hashAlgorithmOID\": \"2.16.840.1.101.3.4.2.1\",
         \"authData\": [{\"id\": \"otp\", \"value\": \"$(service_code)\"}]}" \
    "$SERVICE_URL/csc/v2/credentials/authorize" | sed -n 's/.*"SAD" *: *"\([^"]*\)".*/\1/p')
  curl -sf --cacert "$SERVICE_CA" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"credentialID\": \"$1\", \"SAD\": \"$sad\", \"hashes\": [\"$hash\"], \"signAlgo\": \"1.2.840.10045.4.3.2\"}" \
    "$SERVICE_URL/csc/v2/signatures/signHash" | grep -q signatures
}
check "another client spends the last signature" spend_one "$quota_id"
# (pkcs11-tool has no name for CKR_FUNCTION_REJECTED: it prints 0x200)
rejected="CKR_FUNCTION_REJECTED|\\(0x200\\)"
expect_output "quota used up at the service: CKR_FUNCTION_REJECTED" "$rejected" sign_ec quota-key
expect_output "the log says the quota is used up and what to do" \
  "Signature quota used up — the signature quota is used up: ask the signing service for more signatures" agent_log
expect_output "vtoken status: none left" "signatures: 0 left \(quota used up\)" cred_status quota-key
before=$(steps)
expect_output "again: CKR_FUNCTION_REJECTED" "$rejected" sign_ec quota-key
check "... without asking for a code" test "$(steps)" = "$before"

# --- signing blocked after too many wrong codes ---
echo wrong >"$SERVICE_DIR/code-mode"
: >"$SERVICE_DIR/pinentry.log"
expect_output "a wrong code: CKR_PIN_INCORRECT" "CKR_PIN_INCORRECT" sign_ec warn-key
sign_ec warn-key >/dev/null 2>&1  # the next prompt
expect_output "the next prompt says why the last code failed" "^SETERROR The last code was not accepted" cat "$SERVICE_DIR/pinentry.log"
locked=no
for i in 1 2 3 4 5; do
  sign_ec warn-key >"$work/lock.log" 2>&1
  if grep -q CKR_PIN_LOCKED "$work/lock.log"; then locked=yes; break; fi
done
check "after five wrong codes: CKR_PIN_LOCKED" test "$locked" = yes
rm "$SERVICE_DIR/code-mode"
expect_output "blocked: a right code gets CKR_PIN_LOCKED too" "CKR_PIN_LOCKED" sign_ec warn-key
expect_output "the log says signing is blocked and what to do" \
  "Authorization blocked after 5 wrong codes — signing is blocked after too many wrong codes: the signing service's administrator must unblock" agent_log
sign_ec warn-key >/dev/null 2>&1
expect_output "the next prompt says signing was blocked" "^SETERROR Signing was blocked after too many wrong codes" cat "$SERVICE_DIR/pinentry.log"
check "the administrator unblocks the account" svc account reset-totp --email "$SERVICE_EMAIL"
check "signing works again" sign_ec warn-key

# --- the session ends at the service: the token goes, an open session dies ---
"$vtoken" agent stop >/dev/null
service_configure_agent "authorization = prompt" "pinentry = $SERVICE_PINENTRY" "timeout_ms = 3000" "refresh_seconds = 1"
check "log in (agent checking the session every second)" service_login
slot_of() { p11 --list-slots | awk -v l="$1" '/^Slot/ {slot=$3; gsub(/[():]/, "", slot)} $0 ~ "token label *: "l"$" {print slot}'; }
slot=$(($(slot_of alice@example.org)))
"$build/bin/p11_watch" "$module" alice@example.org 60 >"$work/watch.out" 2>&1 &
watch=$!
for i in $(seq 1 100); do grep -q '^ready' "$work/watch.out" && break; sleep 0.1; done
expect_output "an application holds a logged-in session with a key" "^login CKR_OK" cat "$work/watch.out"
# 40 days on: the access token and the 30-day refresh token have expired.
service_clock_jump $((40 * 86400))
wait "$watch"
expect_output "the application gets a slot event for the cloud slot" "^event slot $slot\$" cat "$work/watch.out"
expect_output "CKF_TOKEN_PRESENT is false" "^token_present 0\$" cat "$work/watch.out"
expect_output "its session died: CKR_DEVICE_REMOVED" "^sign_init CKR_DEVICE_REMOVED\$" cat "$work/watch.out"
expect_output "... then CKR_SESSION_HANDLE_INVALID" "^session_info CKR_SESSION_HANDLE_INVALID\$" cat "$work/watch.out"
expect_output "the log says why and what to do" \
  "removed from slot $slot: the session ended: csc:unauthorized: .*refresh_token — the session with the signing service ended: log in again" agent_log
expect_output "vtoken status: logged out" "slot $slot  alice@example.org at .*: logged out" status
expect_no_output "pkcs11-tool no longer sees the token" "token label *: alice@example.org" p11 -T
check "vtoken login again" service_login
check "the token is back in the same slot" test "$(($(slot_of alice@example.org)))" = "$slot"
check "and signs" sign_ec ec-key
finish
