#!/usr/bin/env bash
# Java through SunPKCS11 (a provider config naming the module and the slot):
# keytool -list shows each key as a PrivateKeyEntry with its full chain (leaf
# + test CA); jarsigner signs a jar with each key and jarsigner -verify
# accepts it. One JVM per check (JVM start-up is the slow part).
source "$(dirname "$0")/lib.sh"
setup_token
slot=$(p11 --list-slots | awk -v l="$label" '/^Slot/ {s=$3; gsub(/[():]/, "", s)} $0 ~ "token label *: "l"$" {print s}')
[ -n "$slot" ] || die "the token's slot id was not found"
printf 'name = vtoken\nlibrary = %s\nslot = %d\n' "$module" "$slot" >"$work/pkcs11.cfg"
jvm_env=()
# The JVM handles SIGSEGV itself; under a preloaded ASan runtime it must be let.
[ -n "$app_preload" ] && jvm_env=(ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0:handle_segv=0:allow_user_segv_handler=1")
p11store=(-keystore NONE -storetype PKCS11 -providerClass sun.security.pkcs11.SunPKCS11 -providerArg "$work/pkcs11.cfg")
# No PIN (cloud token, protected authentication path): -protected, as for a PIN pad.
if [ -n "$pin" ]; then p11store+=(-storepass "$pin"); else p11store+=(-protected); fi
java_() { env "${jvm_env[@]}" ${app_preload:+LD_PRELOAD=$app_preload} timeout 180 "$@"; }

entries() {
  java_ keytool -list -v "${p11store[@]}" >"$work/keytool.txt" 2>&1
  cat "$work/keytool.txt"
  local key cn ca_cn
  ca_cn=$(cn_of ca)
  for key in "${keys[@]}"; do
    cn=$(cn_of "$key")
    # The entry's block: alias, type, chain length 2, leaf then the CA.
    awk -v a="Alias name: $key" '$0==a {on=1} on && /^\*\*\*\*\*/ {exit} on' "$work/keytool.txt" >"$work/entry.txt"
    grep -q "Entry type: PrivateKeyEntry" "$work/entry.txt" &&
      grep -q "Certificate chain length: 2" "$work/entry.txt" &&
      grep -q "^Owner: .*CN=$cn\(,\|\$\)" "$work/entry.txt" &&
      grep -q "^Owner: .*CN=$ca_cn\(,\|\$\)" "$work/entry.txt" ||
      { echo "entry $key: not a PrivateKeyEntry with the chain [CN=$cn, CN=$ca_cn]"; return 1; }
  done
}
check "keytool -list (SunPKCS11): each key is a PrivateKeyEntry with its 2-certificate chain" entries

python3 - "$work/app.jar" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: vtoken apps test\n\n")
    z.writestr("hello.txt", "hello from a jar signed on a vtoken token\n")
PY
for key in "${keys[@]}"; do
  check "jarsigner signs the jar with $key" java_ jarsigner "${p11store[@]}" "$work/app.jar" "$key"
done
verified() {
  java_ jarsigner -verify -verbose -certs "$work/app.jar" >"$work/verify.txt" 2>&1
  cat "$work/verify.txt"
  grep -q "^jar verified" "$work/verify.txt" && grep -q "CN=$(cn_of rsa-key)" "$work/verify.txt" &&
    grep -q "CN=$(cn_of ec-key)" "$work/verify.txt"
}
check "jarsigner -verify: jar verified, signed by both keys" verified
finish
