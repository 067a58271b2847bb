#!/usr/bin/env bash
# The cloud token end to end: the real signing service (test mode), the real
# agent and module, pkcs11-tool and openssl. Codes come from oathtool
# through the service clock (service.sh), by cloud.otp_command, by a
# scripted pinentry, or by C_Login.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/service.sh"

service_start || exit 1
service_account alice@example.org || exit 1
rsa_id=$(service_credential alice@example.org --key rsa2048 --scal 1 --multisign 5 --quota 100 --label rsa-key)
ec_id=$(service_credential alice@example.org --key p256 --scal 2 --label ec-key)
check "credentials issued" test -n "$rsa_id" -a -n "$ec_id"
service_pinentry
service_configure_agent "scal1_window_seconds = 300" "timeout_ms = 3000"

steps() { cat "$SERVICE_DIR/step"; }
echo "document to sign" >"$work/data"
sign() { cloud_sign "$@"; }  # sign LABEL MECHANISM OUT [pkcs11-tool options...] (service.sh)
verify() {  # verify LABEL SIGNATURE [openssl dgst options...]
  local label=$1 sig=$2
  shift 2
  p11 --token-label alice@example.org --read-object --type cert --label "$label" -o "$work/$label.der" >/dev/null 2>&1 &&
    openssl x509 -inform DER -in "$work/$label.der" -pubkey -noout >"$work/$label.pub" &&
    openssl dgst -sha256 -verify "$work/$label.pub" -signature "$sig" "$@" "$work/data"
}

# --- login and objects ---
expect_output "vtoken login --no-browser inserts the cloud token" "Logged in to .* as alice@example.org: cloud token in slot [0-9]+ with 2 key" service_login
slot_of() { p11 --list-slots | awk -v l="$1" '/^Slot/ {slot=$3; gsub(/[():]/, "", slot)} $0 ~ "token label *: "l"$" {print slot}'; }
slot=$(slot_of alice@example.org)
slot=$((slot))  # pkcs11-tool prints 0x2
check "the cloud token has a slot" test -n "$slot"
expect_output "token flags: protected authentication path, write protected" "PIN pad present.*|protected authentication path" p11 --slot "$slot" --list-token-slots
expect_output "certificates are listed without login" "Certificate Object.*" p11 --slot "$slot" --list-objects --type cert
objects_login() { p11 --slot "$slot" --login --list-objects; }
expect_output "private keys after C_Login with no PIN" "Private Key Object; RSA" objects_login
expect_output "the EC private key too" "Private Key Object; EC" objects_login
count_certs() { p11 --slot "$slot" --list-objects --type cert | grep -c "Certificate Object"; }
check "two end-entity certificates and the CA once" test "$(count_certs)" = 3
expect_fail "the cloud token is read-only (keygen refused)" p11 --slot "$slot" --login --keypairgen --key-type EC:prime256v1 --label x

# --- RSA, SCAL1: one code, several signatures ---
before=$(steps)
check "RSA PKCS#1 signature (SHA256-RSA-PKCS)" sign rsa-key SHA256-RSA-PKCS "$work/rsa.sig"
check "openssl verifies it" verify rsa-key "$work/rsa.sig"
check "RSA-PSS signature" sign rsa-key SHA256-RSA-PKCS-PSS "$work/pss.sig"
check "openssl verifies the PSS signature" verify rsa-key "$work/pss.sig" -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1
check "third signature in the window" sign rsa-key SHA256-RSA-PKCS "$work/rsa3.sig"
check "SCAL1: one code for three signatures" test "$(($(steps) - before))" = 1

# --- EC, SCAL2: one code per signature ---
before=$(steps)
check "ECDSA signature (raw r||s from the module)" sign ec-key ECDSA-SHA256 "$work/ec.sig" --signature-format openssl
check "openssl verifies the ECDSA signature" verify ec-key "$work/ec.sig"
check "second ECDSA signature" sign ec-key ECDSA-SHA256 "$work/ec2.sig" --signature-format openssl
check "SCAL2: one code per signature" test "$(($(steps) - before))" = 2

# --- a code given as the PIN ---
before=$(steps)
check "C_Login with the code as PIN signs with it" sign ec-key ECDSA-SHA256 "$work/ec3.sig" --signature-format openssl --pin "$(service_code)"
check "... and the command was not asked" test "$(($(steps) - before))" = 1
# (pkcs11-tool tries C_Sign, then C_SignUpdate/C_SignFinal: each asks for a code)
echo wrong >"$SERVICE_DIR/code-mode"
expect_output "a wrong code: CKR_PIN_INCORRECT" "CKR_PIN_INCORRECT" sign ec-key ECDSA-SHA256 "$work/bad.sig"
rm "$SERVICE_DIR/code-mode"
expect_output "a PIN that is no code: CKR_PIN_INVALID" "CKR_PIN_INVALID" p11 --slot "$slot" --login --pin abc --list-objects

# --- status ---
status() { "$vtoken" status; }
expect_output "vtoken status names the account" "slot $slot  alice@example.org at https://127.0.0.1:[0-9]+: logged in" status
expect_output "vtoken status shows the certificate's days left" "days left" status
expect_output "vtoken status shows the signatures left" "signatures: [0-9]+ left" status

# --- logout removes the token; login brings it back in the same slot ---
check "vtoken logout" "$vtoken" logout
expect_no_output "the token is gone after logout" "token label *: alice@example.org" p11 -T
slot_state() { p11 --list-slots | grep -A1 "($(printf '0x%x' "$slot"))"; }
expect_output "its slot stays, empty" "\\(empty\\)" slot_state
check "log in again" service_login
check "the same slot id is back" test "$(($(slot_of alice@example.org)))" = "$slot"

# --- vtoken login --otp-command: the code from a command (the agent's own runner) ---
"$vtoken" logout >/dev/null
login_with_command() {
  printf '%s\n' "$SERVICE_PASSWORD" |
    "$vtoken" login --no-browser --email "$SERVICE_EMAIL" --password-stdin --otp-command "$1"
}
expect_fail "a failing --otp-command fails the login" login_with_command "exit 3"
expect_output "and is named with its exit status" "--otp-command failed \(exit status 3\)" login_with_command "exit 3"
expect_output "vtoken login --otp-command takes the code the command prints" "Logged in to .* as alice@example.org" \
  login_with_command "$SERVICE_CODE_CMD"

# --- OAuth2 in a "browser": a script that fills in the service's forms with curl ---
cat >"$work/browser.sh" <<EOF
#!/usr/bin/env bash
txn() { sed -n 's/.*name="txn" value="\([^"]*\)".*/\1/p' | head -n1; }
t=\$(curl -sf --cacert "$SERVICE_CA" "\$1" | txn)
t=\$(curl -sf --cacert "$SERVICE_CA" --data-urlencode "txn=\$t" --data-urlencode "email=$SERVICE_EMAIL" \\
  --data-urlencode "password=$SERVICE_PASSWORD" --data-urlencode "otp=\$("$SERVICE_CODE_CMD")" "$SERVICE_URL/oauth2/login" | txn)
to=\$(curl -s --cacert "$SERVICE_CA" -o /dev/null -w '%{redirect_url}' --data-urlencode "txn=\$t" \\
  --data-urlencode "decision=allow" "$SERVICE_URL/oauth2/consent")
curl -s "\$to" >"$work/browser.out"
EOF
chmod 700 "$work/browser.sh"
"$vtoken" logout >/dev/null
echo "browser = $work/browser.sh" >>"$XDG_CONFIG_HOME/vtoken/vtoken.conf"
"$vtoken" agent stop >/dev/null
expect_output "vtoken login (OAuth2 code + PKCE through the loopback redirect)" "as alice@example.org: cloud token in slot $slot " \
  "$vtoken" login --service "$SERVICE_URL" --timeout 30
check "the browser saw the success page" grep -q "logged in" "$work/browser.out"
check "the OAuth2 session signs" sign ec-key ECDSA-SHA256 "$work/oauth.sig" --signature-format openssl

# --- pinentry, and context-specific login (agent restarted with another config) ---
"$vtoken" agent stop >/dev/null
service_configure_agent "authorization = prompt" "pinentry = $SERVICE_PINENTRY" "always_authenticate_credentials = $ec_id" "timeout_ms = 3000"
check "log in (new agent)" service_login
check "pinentry gives the code for a SCAL2 signature" sign ec-key ECDSA-SHA256 "$work/pe.sig" --signature-format openssl --pin "$(service_code)"
check "openssl verifies it" verify ec-key "$work/pe.sig"
: >"$SERVICE_DIR/pinentry.log"
check "pinentry asked for the RSA key (no context login there)" sign rsa-key SHA256-RSA-PKCS "$work/pe-rsa.sig"
expect_output "the prompt names the application and the certificate" "SETDESC .*pkcs11-tool.*CN=alice@example.org" cat "$SERVICE_DIR/pinentry.log"
echo cancel >"$SERVICE_DIR/pinentry-mode"
rsa_pinless() { sign rsa-key SHA256-RSA-PKCS "$work/x.sig"; }
"$vtoken" logout >/dev/null; service_login >/dev/null  # a new session: no SCAL1 window left
expect_output "a cancelled pinentry: CKR_FUNCTION_CANCELED" "CKR_FUNCTION_CANCELED" rsa_pinless
check "context-specific login: the code from C_Login(CKU_CONTEXT_SPECIFIC), the prompt (cancelling) not asked" \
  sign ec-key ECDSA-SHA256 "$work/ctx.sig" --signature-format openssl --pin "$(service_code)"
echo code >"$SERVICE_DIR/pinentry-mode"

# --- prompts waiting for a person do not hold up other applications ---
echo wait >"$SERVICE_DIR/pinentry-mode"
: >"$SERVICE_DIR/pinentry.log"
waiting=
for i in 1 2 3 4 5 6; do
  sign ec-key ECDSA-SHA256 "$work/wait$i.sig" >"$work/wait$i.log" 2>&1 &
  waiting="$waiting $!"
done
for i in $(seq 1 100); do grep -q GETPIN "$SERVICE_DIR/pinentry.log" 2>/dev/null && break; sleep 0.1; done
check "while six signatures wait for a code, another application lists slots" p11 --list-slots
check "... and objects" objects_login
check "... and an emulated token can be created" "$vtoken" token create side --pin 1234 --puk 12345678
all_running() { for p in $waiting; do kill -0 "$p" || return 1; done; }
check "the six signatures were still waiting meanwhile" all_running
touch "$SERVICE_DIR/pinentry-release"
failed_waits=0
for p in $waiting; do wait "$p" || failed_waits=$((failed_waits + 1)); done
check "then each got its code and signed" test "$failed_waits" = 0
echo code >"$SERVICE_DIR/pinentry-mode"

# --- a service that drops the connection mid-signature, one that is too slow, one that is gone:
# an error within cloud.timeout_ms (3 s here), never a hang ---
service_fault '{"drop": true, "count": -1, "path": "/csc/v2/signatures/signHash"}' >/dev/null
expect_output "connection dropped mid-signature: CKR_DEVICE_ERROR" "CKR_DEVICE_ERROR" sign rsa-key SHA256-RSA-PKCS "$work/dead.sig"
service_fault '{"delay_ms": 8000, "count": -1, "path": "/csc/v2/signatures/signHash"}' >/dev/null
expect_output "a service slower than the timeout: CKR_DEVICE_ERROR" "CKR_DEVICE_ERROR" sign rsa-key SHA256-RSA-PKCS "$work/dead.sig"
service_fault "{}" >/dev/null; service_stop
expect_output "service gone: CKR_DEVICE_ERROR" "CKR_DEVICE_ERROR" sign rsa-key SHA256-RSA-PKCS "$work/dead.sig"
expect_output "the cached objects are still listed" "Private Key Object; RSA" objects_login
finish
