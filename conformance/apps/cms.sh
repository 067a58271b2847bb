#!/usr/bin/env bash
# CMS: `openssl cms -sign` through the libp11 engine makes a detached DER .p7s
# with each token key (RSA with PKCS#1 v1.5 and with PSS, P-256 ECDSA), and
# `openssl cms -verify` accepts it against the test CA; a changed document is
# refused.
source "$(dirname "$0")/lib.sh"
setup_token

echo "I, the undersigned, agree. $(date -u)" >"$work/doc.txt"
sign() {  # KEY OUT [extra cms options]
  local key=$1 out=$2
  shift 2
  ossl cms -sign -engine pkcs11 -keyform engine -inkey "$(key_uri_pin "$key")" \
    -signer "$work/$key.pem" -in "$work/doc.txt" -binary -outform DER -out "$out" "$@"
}
verify() {  # P7S DOCUMENT
  openssl cms -verify -binary -inform DER -in "$1" -content "$2" -CAfile "$work/ca.pem" -purpose any -out /dev/null
}
signed_with() {  # P7S PATTERN: the signer info names the algorithm
  openssl cms -cmsout -print -inform DER -in "$1" | sed -n '/signerInfos:/,$p' |
    grep -A1 "signatureAlgorithm:" | grep -Eq "algorithm: ($2)"
}
tampered() { sed 's/agree/refuse/' "$work/doc.txt" >"$work/doc-changed.txt"; }
tampered

check "cms -sign with rsa-key (PKCS#1 v1.5)" sign rsa-key "$work/rsa.p7s"
check "cms -verify accepts the RSA signature (chain to the test CA)" verify "$work/rsa.p7s" "$work/doc.txt"
check "the RSA signer info is rsaEncryption/sha256WithRSA" signed_with "$work/rsa.p7s" "rsaEncryption|sha256WithRSAEncryption"
check "cms -sign with rsa-key (RSA-PSS)" sign rsa-key "$work/pss.p7s" -keyopt rsa_padding_mode:pss
check "cms -verify accepts the RSA-PSS signature" verify "$work/pss.p7s" "$work/doc.txt"
check "the PSS signer info is rsassaPss" signed_with "$work/pss.p7s" "rsassaPss|RSASSA-PSS"
check "cms -sign with ec-key (ECDSA P-256)" sign ec-key "$work/ec.p7s"
check "cms -verify accepts the ECDSA signature" verify "$work/ec.p7s" "$work/doc.txt"
check "the EC signer info is ecdsa-with-SHA256" signed_with "$work/ec.p7s" "ecdsa-with-SHA256"
for s in rsa pss ec; do
  expect_fail "cms -verify refuses the $s signature over a changed document" verify "$work/$s.p7s" "$work/doc-changed.txt"
done
[ -n "$wrong_pin" ] && expect_fail "cms -sign with a wrong PIN fails" bash -c \
  "OPENSSL_CONF='$work/openssl.cnf' LD_PRELOAD='$app_preload' openssl cms -sign -engine pkcs11 -keyform engine \
   -inkey '$(key_uri rsa-key);pin-value=$wrong_pin' -signer '$work/rsa-key.pem' -in '$work/doc.txt' -binary \
   -outform DER -out '$work/bad.p7s'"
finish
