#!/usr/bin/env bash
# OpenSSH: ssh-keygen -D lists the token's public keys; `ssh -I module` logs
# in to a throwaway sshd on 127.0.0.1 (own host key and config, one
# connection then it exits: sshd -d) once with each key, the other key not
# being authorized. The PIN comes through SSH_ASKPASS, as a desktop would ask.
source "$(dirname "$0")/lib.sh"
setup_token
sshd_bin=$(command -v sshd || echo /usr/sbin/sshd)

keygen_d() { app timeout 120 ssh-keygen -D "$module" >"$work/keys.pub" 2>"$work/keygen.err"; }
check "ssh-keygen -D lists the keys" keygen_d
expect_output "ssh-keygen -D gives an ssh-rsa and an ecdsa-sha2-nistp256 key" "^ssh-rsa .*" cat "$work/keys.pub"
grep '^ssh-rsa ' "$work/keys.pub" | head -n1 >"$work/rsa-key.pub"
grep '^ecdsa-sha2-nistp256 ' "$work/keys.pub" | head -n1 >"$work/ec-key.pub"
check "the ECDSA key is listed too" test -s "$work/ec-key.pub"
keys_match() {  # the listed RSA key is the token's (its certificate's public key)
  openssl x509 -in "$work/rsa-key.pem" -pubkey -noout >"$work/rsa-cert-pub.pem" &&
    ssh-keygen -i -m PKCS8 -f "$work/rsa-cert-pub.pem" | cut -d' ' -f2 >"$work/a" &&
    cut -d' ' -f2 "$work/rsa-key.pub" >"$work/b" && cmp "$work/a" "$work/b"
}
check "the ssh-rsa key is the one in rsa-key's certificate" keys_match

ssh-keygen -q -t ed25519 -N '' -f "$work/host_key" -C apps-host
printf '#!/bin/sh\necho "$1" >>"%s"\necho %s\n' "$work/askpass.log" "$pin" >"$work/askpass"
chmod 700 "$work/askpass"
[ "$(id -u)" -eq 0 ] && mkdir -p /run/sshd  # privilege separation directory, needed by sshd as root

# login KEY: sshd -d accepts one connection with only KEY authorized.
login() {
  local key=$1 i
  cp "$work/$key.pub" "$work/authorized_keys"
  cat >"$work/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port 0
HostKey $work/host_key
AuthorizedKeysFile $work/authorized_keys
PidFile none
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
CONF
  # sshd cannot report a kernel-chosen port: take a free one, retrying if it is taken.
  for i in 1 2 3; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    sed -i "s/^Port .*/Port $port/" "$work/sshd_config"
    "$sshd_bin" -d -e -f "$work/sshd_config" >"$work/sshd.log" 2>&1 </dev/null &
    server_pid=$!
    local n
    for n in $(seq 1 100); do
      grep -q "Server listening on 127.0.0.1 port $port" "$work/sshd.log" && break 2
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.05
    done
    kill "$server_pid" 2>/dev/null
  done
  SSH_ASKPASS=$work/askpass SSH_ASKPASS_REQUIRE=force DISPLAY=:none app timeout 120 \
    ssh -F none -n -I "$module" -o BatchMode=no \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=${VTOKEN_APPS_SSH_LOGLEVEL:-ERROR} \
    -p "$port" "$(id -un)@127.0.0.1" "echo logged-in-with-$key" >"$work/ssh.out" 2>&1 </dev/null
  local rc=$?
  stop_server
  tail -n 30 "$work/ssh.out"
  [ $rc -eq 0 ] && grep -q "^logged-in-with-$key\$" "$work/ssh.out" && { [ -z "$pin" ] || grep -qi "PIN" "$work/askpass.log"; } &&
    grep -q "Accepted publickey for $(id -un)" "$work/sshd.log" ||
    { echo "--- sshd log:"; tail -n 15 "$work/sshd.log"; return 1; }
}
for key in "${keys[@]}"; do
  check "ssh -I module logs in to sshd on 127.0.0.1 with $key (PIN through SSH_ASKPASS)" login "$key"
done
finish
