#!/usr/bin/env bash
# vtoken register / unregister with an isolated HOME: the p11-kit module file
# (honouring XDG_CONFIG_HOME), ~/.pki/nssdb (created), Firefox profiles (the
# usual and the snap location); idempotent, reversible, reporting what it
# changed. Run as root on a home owned by another user (plain sudo), every
# file it writes stays that user's, and p11-kit, run as that user, sees it.
source "$(dirname "$0")/lib.sh"
export HOME=$scratch/home
real_module=$(readlink -f "$module")
modfile=$XDG_CONFIG_HOME/pkcs11/modules/vtoken.module
nssdb=$HOME/.pki/nssdb
ff=$HOME/.mozilla/firefox/abcd1234.default-release
snap=$HOME/snap/firefox/common/.mozilla/firefox/efgh5678.default
mkdir -p "$ff" "$snap" "$HOME/.mozilla/firefox/not-a-profile"
certutil -N -d "sql:$ff" --empty-password
certutil -N -d "sql:$snap" --empty-password
# NSS tools load the module: under an ASan build they need the runtime preloaded
# (app), and so does vtoken when it runs modutil.
nss_has() {  # DB: modutil lists the module with our library
  app modutil -dbdir "sql:$1" -list 2>/dev/null | grep -A2 "\. vtoken\$" | grep -q "library name: $real_module"
}
reg() { app "$vtoken" register --module "$module" | tee "$work/report.txt"; }
unreg() { app "$vtoken" unregister; }

expect_output "register reports the p11-kit file it wrote" "p11-kit: +wrote $modfile" reg
cat "$work/report.txt"
check "the module file names the module" grep -qx "module: $real_module" "$modfile"
check "~/.pki/nssdb was created" test -f "$nssdb/cert9.db"
expect_output "the report says the NSS database was created" "NSS: +added module 'vtoken' in $nssdb \\(created the database\\)" \
  cat "$work/report.txt"
expect_output "the report names the Firefox profile" "Firefox: +added module 'vtoken' in $ff\$" cat "$work/report.txt"
check "modutil lists vtoken in ~/.pki/nssdb" nss_has "$nssdb"
check "modutil lists vtoken in the Firefox profile" nss_has "$ff"
check "modutil lists vtoken in the snap Firefox profile" nss_has "$snap"
check "a directory without an NSS database is left alone" test -z "$(ls -A "$HOME/.mozilla/firefox/not-a-profile")"
check "nothing was written under ~/.config (XDG_CONFIG_HOME is elsewhere)" test ! -e "$HOME/.config"
nss_slots() { app certutil -U -d "sql:$nssdb"; }
expect_output "NSS loads the module from ~/.pki/nssdb (certutil -U lists its slot)" "slot: vtoken" nss_slots

expect_output "a second register changes nothing" "Nothing to change: already registered" reg
expect_output "... and says so per place" "NSS: +already registered in $nssdb" cat "$work/report.txt"

printf 'module: /elsewhere/libvtoken-pkcs11.so\n' >"$modfile"
expect_output "a module file naming another path is updated" "p11-kit: +updated $modfile" reg
check "... to the module" grep -qx "module: $real_module" "$modfile"

expect_output "unregister removes the p11-kit file" "p11-kit: +removed $modfile" unreg
check "the module file is gone" test ! -e "$modfile"
nss_list() { app modutil -dbdir "sql:$1" -list; }
for db in "$nssdb" "$ff" "$snap"; do
  # modutil must list the database (a failure is no evidence) without our library.
  expect_no_output "vtoken is gone from $(basename "$db")" "library name: $real_module" nss_list "$db"
done
check "the NSS database itself is kept" test -f "$nssdb/cert9.db"
expect_output "a second unregister changes nothing" "Nothing to change: already unregistered" unreg

expect_output "a missing module is a usage error (exit 2)" "exit=2" \
  bash -c "'$vtoken' register --module /nonexistent/lib.so; echo exit=\$?"
expect_output "register --help describes it" "p11-kit module file" "$vtoken" register --help

# Root on another user's home (sudo keeps HOME): the files stay the user's.
if [ "$(id -u)" -eq 0 ]; then
  user=nobody
  uid=$(id -u "$user")
  chmod 711 "$scratch"
  home2=$scratch/home2
  mkdir -p "$home2" && chown "$user" "$home2"
  as_root_on_home2() { app env -u XDG_CONFIG_HOME HOME="$home2" "$vtoken" register --module "$module"; }
  expect_output "as root on $user's home: register runs as $user" "Running as $user" as_root_on_home2
  check "pkcs11.txt is owned by $user" test "$(stat -c %u "$home2/.pki/nssdb/pkcs11.txt")" = "$uid"
  check "the module file is owned by $user" test "$(stat -c %u "$home2/.config/pkcs11/modules/vtoken.module")" = "$uid"
  check "nothing under the home is owned by root" test -z "$(find "$home2" -uid 0)"
  # p11-kit reads per-user module files only for non-root users: ask as the user.
  mkdir -p "$home2/run" && chown "$user" "$home2/run" && chmod 700 "$home2/run"
  as_user() { setpriv --reuid="$uid" --regid="$(id -g "$user")" --clear-groups env -u XDG_CONFIG_HOME HOME="$home2" \
    XDG_RUNTIME_DIR="$home2/run" XDG_DATA_HOME="$home2/data" "$@"; }
  expect_output "p11-kit, run as $user, lists the registered module" "^vtoken: $real_module" \
    app as_user timeout 60 p11-kit list-modules
  as_user "$vtoken" agent stop >/dev/null 2>&1
  expect_output "unregister as root on $user's home removes it" "p11-kit: +removed" \
    app env -u XDG_CONFIG_HOME HOME="$home2" "$vtoken" unregister
fi
finish
