#!/usr/bin/env bash
# The main job, end to end on the embedded default: install what is missing,
# build, start the agent, create an emulated USB token, generate a key on it,
# make its certificate, and sign real documents through the PKCS#11 module
# with real applications (OpenSSL CMS through the libp11 engine, and pdfsig
# through NSS), verifying every signature.
#
# Everything lives under build/demo (XDG dirs), so your own tokens are never
# touched. Run it again at any time: it starts from a clean demo directory.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/install-deps.sh
scripts/build.sh build

demo=$root/build/demo
rm -rf "$demo"
mkdir -p "$demo"/{run,data,config,work}
chmod 700 "$demo"/run
export XDG_RUNTIME_DIR=$demo/run XDG_DATA_HOME=$demo/data XDG_CONFIG_HOME=$demo/config
module=$root/build/lib/libvtoken-pkcs11.so
vtoken=$root/build/bin/vtoken
work=$demo/work
trap '"$vtoken" agent stop >/dev/null 2>&1 || true' EXIT

step() { printf '\n== %s\n' "$*"; }

step "Create an emulated USB token (the agent starts on demand)"
"$vtoken" token create demo --label "vtoken demo" --pin 123456 --puk 87654321
"$vtoken" token list

step "Generate an RSA-2048 key on the token with pkcs11-tool"
pkcs11-tool --module "$module" --token-label "vtoken demo" --login --pin 123456 \
  --keypairgen --key-type rsa:2048 --id 01 --label signing-key

step "Make a self-signed certificate with that key (OpenSSL + libp11 engine) and store it on the token"
source scripts/lib/openssl-engine.sh
openssl_engine_conf "$module" > "$work/openssl.cnf"
export OPENSSL_CONF=$work/openssl.cnf
key_uri="pkcs11:token=vtoken%20demo;object=signing-key;type=private;pin-value=123456"
openssl req -new -x509 -days 365 -subj "/CN=vtoken demo signer/O=vtoken" \
  -engine pkcs11 -keyform engine -key "$key_uri" -out "$work/cert.pem" 2>/dev/null
openssl x509 -in "$work/cert.pem" -outform DER -out "$work/cert.der"
pkcs11-tool --module "$module" --token-label "vtoken demo" --login --pin 123456 \
  --write-object "$work/cert.der" --type cert --id 01 --label signing-key >/dev/null
openssl x509 -in "$work/cert.pem" -noout -subject -enddate

step "Sign a document as detached CMS (.p7s) through the module, and verify it"
echo "I, the undersigned, agree. $(date -u)" > "$work/contract.txt"
openssl cms -sign -engine pkcs11 -keyform engine -inkey "$key_uri" -signer "$work/cert.pem" \
  -in "$work/contract.txt" -binary -outform DER -out "$work/contract.txt.p7s" 2>/dev/null
openssl cms -verify -binary -inform DER -in "$work/contract.txt.p7s" -content "$work/contract.txt" \
  -CAfile "$work/cert.pem" -purpose any -out /dev/null

step "Sign a PDF with pdfsig through NSS, and verify it"
unset OPENSSL_CONF
nss=$work/nssdb
mkdir -p "$nss"
certutil -N -d "sql:$nss" --empty-password
modutil -dbdir "sql:$nss" -add vtoken -libfile "$module" -force >/dev/null
scripts/lib/make-pdf.sh "$work/contract.pdf" "Contract signed with vtoken"
pdfsig -nssdir "$nss" -add-signature -nick "vtoken demo:signing-key" -kpw 123456 \
  -reason "vtoken demo" "$work/contract.pdf" "$work/contract-signed.pdf"
pdfsig -nssdir "$nss" -nocert "$work/contract-signed.pdf" | tee "$work/pdfsig.txt"
grep -q "Signature Validation: Signature is Valid." "$work/pdfsig.txt"

step "Done: all signatures verified. Files are in $work"
