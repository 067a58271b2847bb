#!/usr/bin/env bash
# main-job.sh BUILD_DIR STATE_DIR: the main job on an already built tree.
# With all vtoken state isolated under STATE_DIR (wiped first): create an
# emulated USB token (the agent starts on demand), generate a key on it with
# pkcs11-tool, make its certificate with OpenSSL through the libp11 engine,
# sign a document as detached CMS and a PDF with pdfsig through NSS, and
# verify both signatures. Used by scripts/demo.sh and by the test suite.
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
trap '"$vtoken" agent stop >/dev/null 2>&1 || true' EXIT
app_setup "$module"

step() { printf '\n== %s\n' "$*"; }

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
app pdfsig -nssdir "$nss" -nocert "$work/contract-signed.pdf" | tee "$work/pdfsig.txt"
grep -q "Signature Validation: Signature is Valid." "$work/pdfsig.txt"

step "Done: every signature verified. Files are in $work"
