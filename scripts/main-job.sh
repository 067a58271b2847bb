#!/usr/bin/env bash
# main-job.sh BUILD_DIR STATE_DIR: the main job on an already built tree,
# with all state isolated under STATE_DIR (wiped first). Used by
# scripts/demo.sh and by the test suite (integration:main_job).
#
# Part 1, the cloud token on the embedded default: start the reference
# signing service, create a demo account and credential with its CLI, log
# the agent in (vtoken login --no-browser, TOTP code from oathtool), and sign
# a PDF with pdfsig through NSS and the module, and files with `vtoken sign`
# (detached CAdES, one code for the batch); verify every signature.
# Signature codes come from a configured command (cloud.otp_command) so the
# job runs unattended. The service runs in test mode: each code moves its
# clock one TOTP step on (tests/integration/service.sh), so the job does not
# wait 30 s for a fresh code each time.
#
# Part 2, the emulated USB token: create it (the agent starts on demand),
# generate a key with pkcs11-tool, make its certificate with OpenSSL through
# the libp11 engine, sign a document as detached CMS and a PDF with pdfsig,
# and verify both signatures.
set -euo pipefail
build=$(cd "$1" && pwd)
state=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/openssl-engine.sh"
source "$here/lib/app.sh"

rm -rf "$state"
mkdir -p "$state"/{run,data,config,work}
chmod 700 "$state/run"
export XDG_RUNTIME_DIR=$state/run XDG_DATA_HOME=$state/data XDG_CONFIG_HOME=$state/config
module=$build/lib/libvtoken-pkcs11.so
vtoken=$build/bin/vtoken
work=$state/work
scratch=$state  # service.sh keeps the service under $scratch/service
source "$here/../tests/integration/service.sh"
trap '"$vtoken" agent stop >/dev/null 2>&1 || true; service_stop || true' EXIT
app_setup "$module"

step() { printf '\n== %s\n' "$*"; }
pdf_signed_and_valid() {  # pdf_signed_and_valid NSSDB PDF [pdfsig options]
  app pdfsig -nssdir "$1" "${@:3}" "$2" | tee "$2.txt"
  grep -q "Signature Validation: Signature is Valid." "$2.txt"
}
pdf_signer_trusted() {  # pdf_signer_trusted PDF: after pdf_signed_and_valid without -nocert
  grep -q "Certificate Validation: Certificate is Trusted." "$1.txt"
}

echo "### Part 1: the cloud token"
step "Start the reference signing service (test mode; data in $state/service)"
service_start
echo "listening on $SERVICE_URL; its CA: $SERVICE_CA"

step "Create a demo account and an RSA-2048 credential with the service's CLI"
service_account demo@example.org
credential=$(service_credential demo@example.org --key rsa2048 --scal 1 --multisign 10 --quota 100 \
  --label "demo signing key")
echo "account demo@example.org (password and TOTP secret in $SERVICE_DIR), credential $credential"

step "Configure the agent: this service, codes from oathtool through cloud.otp_command"
service_configure_agent
cat "$XDG_CONFIG_HOME/vtoken/vtoken.conf"

step "Log the agent in: vtoken login --no-browser (password + TOTP code): the cloud token appears"
service_login
"$vtoken" status

step "Sign a PDF with pdfsig through NSS and the module (cloud key), and verify it"
cloud_nss=$work/cloud-nssdb
mkdir -p "$cloud_nss"
certutil -N -d "sql:$cloud_nss" --empty-password
app modutil -dbdir "sql:$cloud_nss" -add vtoken -libfile "$module" -force >/dev/null
app certutil -A -d "sql:$cloud_nss" -n "signing service CA" -t "C,C,C" -i "$SERVICE_CA"
"$here/lib/make-pdf.sh" "$work/offer.pdf" "Offer signed with the vtoken cloud token"
# NSS asks no password of a token with a protected authentication path: any
# -nss-pwd does (pdfsig insists on one); the code comes from the agent.
app pdfsig -nssdir "$cloud_nss" -add-signature -nick "demo@example.org:demo signing key" -nss-pwd protected-path \
  -reason "vtoken cloud demo" "$work/offer.pdf" "$work/offer-signed.pdf"
pdf_signed_and_valid "$cloud_nss" "$work/offer-signed.pdf"
pdf_signer_trusted "$work/offer-signed.pdf"

step "Sign two files with vtoken sign (detached CAdES, one code for both), verify with openssl cms"
echo "Terms accepted by demo@example.org. $(date -u)" >"$work/terms.txt"
"$vtoken" sign --key "demo signing key" "$work/terms.txt" "$work/offer.pdf"
for f in "$work/terms.txt" "$work/offer.pdf"; do
  openssl cms -verify -binary -inform DER -in "$f.p7s" -content "$f" -CAfile "$SERVICE_CA" -out /dev/null
done

step "Log out: the cloud token goes away"
"$vtoken" logout
"$vtoken" agent stop >/dev/null

echo
echo "### Part 2: the emulated USB token"
step "Create an emulated USB token (the agent starts on demand)"
"$vtoken" token create demo --label "vtoken demo" --pin 123456 --puk 87654321
"$vtoken" token list

step "Generate an RSA-2048 key on the token with pkcs11-tool"
app pkcs11-tool --module "$module" --token-label "vtoken demo" --login --pin 123456 \
  --keypairgen --key-type rsa:2048 --id 01 --label signing-key

step "Make a self-signed certificate with that key (OpenSSL + libp11 engine) and store it on the token"
openssl_engine_conf "$module" > "$work/openssl.cnf"
key_uri="pkcs11:token=vtoken%20demo;object=signing-key;type=private;pin-value=123456"
OPENSSL_CONF=$work/openssl.cnf app openssl req -new -x509 -days 365 \
  -subj "/CN=vtoken demo signer/O=vtoken" \
  -engine pkcs11 -keyform engine -key "$key_uri" -out "$work/cert.pem" 2>/dev/null
openssl x509 -in "$work/cert.pem" -outform DER -out "$work/cert.der"
app pkcs11-tool --module "$module" --token-label "vtoken demo" --login --pin 123456 \
  --write-object "$work/cert.der" --type cert --id 01 --label signing-key >/dev/null
openssl x509 -in "$work/cert.pem" -noout -subject -enddate

step "Sign a document as detached CMS (.p7s) through the module, and verify it"
echo "I, the undersigned, agree. $(date -u)" > "$work/contract.txt"
OPENSSL_CONF=$work/openssl.cnf app openssl cms -sign -engine pkcs11 -keyform engine \
  -inkey "$key_uri" -signer "$work/cert.pem" \
  -in "$work/contract.txt" -binary -outform DER -out "$work/contract.txt.p7s" 2>/dev/null
openssl cms -verify -binary -inform DER -in "$work/contract.txt.p7s" -content "$work/contract.txt" \
  -CAfile "$work/cert.pem" -purpose any -out /dev/null

step "Sign a PDF with pdfsig through NSS, and verify it"
nss=$work/nssdb
mkdir -p "$nss"
certutil -N -d "sql:$nss" --empty-password
app modutil -dbdir "sql:$nss" -add vtoken -libfile "$module" -force >/dev/null
"$here/lib/make-pdf.sh" "$work/contract.pdf" "Contract signed with vtoken"
app pdfsig -nssdir "$nss" -add-signature -nick "vtoken demo:signing-key" -nss-pwd 123456 -kpw 123456 \
  -reason "vtoken demo" "$work/contract.pdf" "$work/contract-signed.pdf"
pdf_signed_and_valid "$nss" "$work/contract-signed.pdf" -nocert  # self-signed

step "Done: every signature verified. Files are in $work"
