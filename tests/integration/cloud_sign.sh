#!/usr/bin/env bash
# vtoken sign: batches of detached CAdES signatures with the cloud token
# against the real signing service (test mode), verified by openssl cms.
# The service's audit log is the witness: one credentials/authorize per
# batch (per `multisign` files), one signature per file, and for SCAL2 the
# signed hashes are exactly the hashes of the signed attributes in the .p7s.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/service.sh"

service_start || exit 1
service_account alice@example.org || exit 1
rsa_id=$(service_credential alice@example.org --key rsa2048 --scal 1 --multisign 5 --quota 100 --label rsa-key)
ec_id=$(service_credential alice@example.org --key p256 --scal 2 --multisign 10 --label ec-key)
check "credentials issued" test -n "$rsa_id" -a -n "$ec_id"
service_configure_agent
check "log in" service_login

# audit EVENT CREDENTIAL: rows of the service's audit log.
audit() { sqlite3 "$SERVICE_DIR/data/service.db" "SELECT count(*) FROM audit WHERE event = '$1' AND credential = '$2'"; }
steps() { cat "$SERVICE_DIR/step"; }
# verify_all DIR FILE...: each FILE has DIR/FILE.p7s that openssl accepts against the service CA.
verify_all() {
  local dir=$1 f
  shift
  for f in "$@"; do
    openssl cms -verify -binary -inform DER -in "$dir/$(basename "$f").p7s" -content "$f" -CAfile "$SERVICE_CA" \
      -out /dev/null || return 1
  done
}
# signed_attrs_sha256 P7S: SHA-256 of the DER signed attributes (the [0] of the
# SignerInfo, tag replaced by SET as RFC 5652 §5.4 says) — what the key signed.
signed_attrs_sha256() {
  local line off hl len
  line=$(openssl asn1parse -inform DER -in "$1" | grep -m1 'd=5 .*cont \[ 0 \]')
  off=$(echo "$line" | sed -E 's/^ *([0-9]+):.*/\1/')
  hl=$(echo "$line" | sed -E 's/.*hl= *([0-9]+).*/\1/')
  len=$(echo "$line" | sed -E 's/.* l= *([0-9]+).*/\1/')
  { printf '\x31'; tail -c +$((off + 2)) "$1" | head -c $((hl - 1 + len)); } | sha256sum | cut -d' ' -f1
}

mkdir -p "$work/docs" "$work/out"
for i in $(seq 1 12); do head -c $((i * 1000)) /dev/urandom >"$work/docs/doc$i.bin"; done
docs=("$work"/docs/doc{1..4}.bin)

expect_output "two credentials and no --key: a usage error naming both" "several credentials.*" "$vtoken" sign "${docs[@]}"
check "... and nothing was signed" test -z "$(ls "$work"/docs/*.p7s 2>/dev/null)"

# --- SCAL1: four files, one code, one authorization ---
before=$(steps)
expect_output "vtoken sign: 4 files with one authorization" "signed 4 of 4 files with credential $rsa_id .*; 1 authorization" \
  "$vtoken" sign --key rsa-key "${docs[@]}"
check "openssl cms -verify accepts all four .p7s" verify_all "$work/docs" "${docs[@]}"
check "one code was asked for" test "$(($(steps) - before))" = 1
check "the service saw one credentials/authorize" test "$(audit authorize "$rsa_id")" = 1
check "... and four signatures" test "$(audit sign "$rsa_id")" = 4
expect_fail "a .p7s does not verify another document" openssl cms -verify -binary -inform DER \
  -in "$work/docs/doc1.bin.p7s" -content "$work/docs/doc2.bin" -CAfile "$SERVICE_CA" -out /dev/null
expect_output "the .p7s is CAdES: signingCertificateV2 and signingTime are signed" \
  "id-smime-aa-signingCertificateV2.*|signingCertificateV2" sh -c \
  "openssl cms -cmsout -print -inform DER -in '$work/docs/doc1.bin.p7s' | grep -E 'signingCertificateV2|signingTime'"

# --- more files than multisign (5): two codes, two authorizations ---
seven=("$work"/docs/doc{1..7}.bin)
expect_output "7 files with multisign 5: two authorizations, --out DIR" "signed 7 of 7 files .*; 2 authorizations" \
  "$vtoken" sign --key "$rsa_id" --out "$work/out" --pss --hash sha384 "${seven[@]}"
check "openssl cms -verify accepts the seven RSA-PSS signatures" verify_all "$work/out" "${seven[@]}"
check "the service saw 1 + 2 authorizations" test "$(audit authorize "$rsa_id")" = 3
expect_output "they are RSASSA-PSS with SHA-384" "rsassaPss" openssl cms -cmsout -print -inform DER -in "$work/out/doc7.bin.p7s"

# --- SCAL2: the hashes are bound at authorization, all in one ---
mkdir -p "$work/scal2"
three=("$work"/docs/doc{8..10}.bin)
before=$(steps)
expect_output "SCAL2: 3 files, one authorization" "signed 3 of 3 files with credential $ec_id .*ECDSA.*; 1 authorization" \
  "$vtoken" sign --key ec-key --out "$work/scal2" "${three[@]}"
check "openssl cms -verify accepts the ECDSA signatures" verify_all "$work/scal2" "${three[@]}"
check "one code for the SCAL2 batch" test "$(($(steps) - before))" = 1
check "one credentials/authorize with the three hashes" test "$(audit authorize "$ec_id")" = 1
signed_hashes() { sqlite3 "$SERVICE_DIR/data/service.db" "SELECT lower(hash_hex) FROM audit WHERE event = 'sign' AND credential = '$ec_id'" | sort; }
p7s_hashes() { local f; for f in "$work"/scal2/*.p7s; do signed_attrs_sha256 "$f"; done | sort; }
check "the service signed exactly the hashes of the signed attributes in the .p7s files" \
  test "$(signed_hashes)" = "$(p7s_hashes)" -a "$(signed_hashes | wc -l)" = 3

# --- failures are reported per file; the others are signed ---
rm -f "$work"/docs/doc11.bin.p7s
sign_with_missing() { "$vtoken" sign --key rsa-key "$work/docs/doc11.bin" "$work/docs/missing.bin"; }
expect_fail "a missing file makes the run fail" sign_with_missing
expect_output "the summary counts it" "signed 1 of 2 files" sign_with_missing
expect_output "... and names it with the reason" "not signed: .*missing.bin: cannot open" sign_with_missing
check "the other file is signed" verify_all "$work/docs" "$work/docs/doc11.bin"
check "nothing was written for the missing one" test ! -e "$work/docs/missing.bin.p7s"
expect_output "an unknown --key is an error that lists the credentials" "no credential has the ID or label 'nope'.*" \
  "$vtoken" sign --key nope "$work/docs/doc12.bin"
expect_fail "--out must be a directory" "$vtoken" sign --key rsa-key --out "$work/docs/doc1.bin" "$work/docs/doc12.bin"

# --- a wrong code: nothing is written, the reason is given ---
echo wrong >"$SERVICE_DIR/code-mode"
expect_output "a wrong code: the batch is refused with the reason" "not signed: .*doc12.bin: .*(wrong_code|OTP is invalid)" \
  "$vtoken" sign --key ec-key "$work/docs/doc12.bin"
rm -f "$SERVICE_DIR/code-mode"
check "no .p7s after a refused batch" test ! -e "$work/docs/doc12.bin.p7s"

# --- after logout there is no cloud token to sign with ---
"$vtoken" logout >/dev/null
expect_output "logged out: vtoken sign says to log in" "log in first" "$vtoken" sign "$work/docs/doc12.bin"
finish
