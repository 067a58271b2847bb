#!/usr/bin/env bash
# PDF signing with poppler's pdfsig through NSS, in the user's NSS database
# (~/.pki/nssdb) that `vtoken register` created and put the module into: sign
# a generated PDF with the RSA key, then pdfsig validates the signature and the
# certificate (the test CA is trusted in the database). Not the EC key: poppler
# 22.12 (Debian 12) cannot sign with EC keys at all ("unable update
# signature", and a segfault with SoftHSMv2's EC keys).
source "$(dirname "$0")/lib.sh"
setup_token
nssdb=$HOME/.pki/nssdb
# NSS asks no password of a token with a protected authentication path (cloud):
# any -nss-pwd does, pdfsig just insists on one.
nss_pwd=${pin:-protected-path}
setup "trust the test CA in ~/.pki/nssdb" app certutil -A -d "sql:$nssdb" -n apps-ca -t "C,C,C" -i "$work/ca.pem"
"$repo/scripts/lib/make-pdf.sh" "$work/doc.pdf" "Signed with vtoken ($kind token)"

expect_output "pdfsig lists the token's certificates as nicknames" "$label:rsa-key" \
  app pdfsig -list-nicks -nss-pwd "$nss_pwd"
sign() {  # KEY
  rm -f "$work/$1.pdf"
  app pdfsig -add-signature -nick "$label:$1" -nss-pwd "$nss_pwd" -kpw "$nss_pwd" -reason "vtoken apps $1" \
    "$work/doc.pdf" "$work/$1.pdf"
}
verify() {  # KEY: signature valid, certificate trusted, signer named
  local cn
  cn=$(cn_of "$1")
  app pdfsig "$work/$1.pdf" >"$work/$1.txt" 2>&1
  cat "$work/$1.txt"
  grep -q "Signature Validation: Signature is Valid." "$work/$1.txt" &&
    grep -q "Certificate Validation: Certificate is Trusted." "$work/$1.txt" &&
    grep -q "Signer Certificate Common Name: $cn" "$work/$1.txt"
}
for key in rsa-key; do
  check "pdfsig -add-signature with $key (NSS, ~/.pki/nssdb)" sign "$key"
  check "pdfsig: the $key signature is valid and its certificate trusted" verify "$key"
done
# A byte changed inside the signed range breaks the signature.
sed 's/Signed with vtoken/Signed with vtokeN/' "$work/rsa-key.pdf" >"$work/changed.pdf"
# pdfsig itself must run (a crash is no evidence) and must not call it valid.
expect_no_output "pdfsig refuses a changed document" "Signature Validation: Signature is Valid" \
  app pdfsig "$work/changed.pdf"
finish
