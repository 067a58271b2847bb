#!/usr/bin/env bash
# PDF signing with poppler's pdfsig through NSS, in the user's NSS database
# (~/.pki/nssdb) that `vtoken register` created and put the module into: sign
# a generated PDF with each key, then pdfsig validates the signature and the
# certificate (the test CA is trusted in the database) and refuses a changed copy.
#
# The EC key may take several runs. poppler 22.12 (Debian 12) sizes /Contents
# from a trial signature over "PDF" (poppler/Form.cc, signDocument, lines
# 613-631) and writes the real one only if it has exactly that length
# (updateSignature, line 858; else "signDocument: unable update signature",
# line 677, exit 3). NSS stores ECDSA in the CMS as DER (r, s), 70-72 bytes for
# P-256 depending on the top bits of r and s, so about 5 runs in 8 fail that way
# after the token made both signatures (CKM_ECDSA, 64 bytes, CKR_OK); SoftHSMv2
# keys fail the same. Upstream reserves a fixed 10000 bytes padded with zeros
# since 2023; bookworm and bookworm-backports have no newer poppler. Only that
# failure is retried. (pdfsig's segfault with SoftHSMv2 is at exit and for RSA
# keys too: poppler's atexit NSS_Shutdown calls SoftHSMv2's C_CloseAllSessions.)
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
sign() {  # KEY RUNS: up to RUNS runs while poppler refuses the length (above)
  local run
  for ((run = 1; run <= $2; run++)); do
    rm -f "$work/$1.pdf"
    if app pdfsig -add-signature -nick "$label:$1" -nss-pwd "$nss_pwd" -kpw "$nss_pwd" -reason "vtoken apps $1" \
      "$work/doc.pdf" "$work/$1.pdf" >"$work/$1.sign.log" 2>&1; then
      echo "$run" >"$work/$1.runs"
      return 0
    fi
    cat "$work/$1.sign.log"
    grep -q "signDocument: unable update signature" "$work/$1.sign.log" || return 1
  done
  return 1
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
# RSA signatures have one length: one run. EC: 30 runs fail together about
# once in a million (5/8 each).
for key in rsa-key ec-key; do
  runs=1
  [ "$key" = ec-key ] && runs=30
  check "pdfsig -add-signature with $key (NSS, ~/.pki/nssdb)" sign "$key" "$runs"
  [ -f "$work/$key.runs" ] && step "$key signed on pdfsig run $(cat "$work/$key.runs") of at most $runs"
  check "pdfsig: the $key signature is valid and its certificate trusted" verify "$key"
  # A byte changed inside the signed range breaks the signature.
  sed 's/Signed with vtoken/Signed with vtokeN/' "$work/$key.pdf" >"$work/changed.pdf"
  # pdfsig itself must run (a crash is no evidence) and must not call it valid.
  expect_no_output "pdfsig refuses a changed document ($key)" "Signature Validation: Signature is Valid" \
    app pdfsig "$work/changed.pdf"
done
finish
