#!/usr/bin/env bash
# OpenSSH: ssh-keygen -D lists the token's public keys; `ssh -I module` logs
# in to a throwaway sshd on 127.0.0.1 (own host key and config, one
# connection then it exits: sshd -d) once with each key, the other key not
# being authorized. The PIN comes through SSH_ASKPASS, as a desktop would ask.
# Then ssh-agent: it refuses a module outside its allow-list (by default the
# system library directories, hence `cmake --install` puts the module there),
# loads it when allowed (`ssh-add -s`, PIN through SSH_ASKPASS), lists the
# token's keys (`ssh-add -L`) and ssh logs in through it with each key.
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

# login KEY [SSH OPTIONS...]: sshd -d accepts one connection with only KEY
# authorized; ssh takes its key from the options (default: -I module).
login() {
  local key=$1 i
  local auth=("${@:2}")
  [ ${#auth[@]} -gt 0 ] || auth=(-I "$module")
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
    ssh -F none -n "${auth[@]}" -o BatchMode=no \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=${VTOKEN_APPS_SSH_LOGLEVEL:-ERROR} \
    -p "$port" "$(id -un)@127.0.0.1" "echo logged-in-with-$key" >"$work/ssh.out" 2>&1 </dev/null
  local rc=$?
  stop_server
  tail -n 30 "$work/ssh.out"
  [ $rc -eq 0 ] && grep -q "^logged-in-with-$key\$" "$work/ssh.out" &&
    { [ -z "$pin" ] || [ "${auth[0]}" != -I ] || grep -qi "PIN" "$work/askpass.log"; } &&
    grep -q "Accepted publickey for $(id -un)" "$work/sshd.log" ||
    { echo "--- sshd log:"; tail -n 15 "$work/sshd.log"; return 1; }
}
for key in "${keys[@]}"; do
  check "ssh -I module logs in to sshd on 127.0.0.1 with $key (PIN through SSH_ASKPASS)" login "$key"
done

# start_ssh_agent [OPTIONS]: a throwaway ssh-agent on $work/agent.sock, log in $work/ssh-agent.log.
ssh_agent_pid=""
trap '[ -n "$ssh_agent_pid" ] && kill "$ssh_agent_pid" 2>/dev/null; apps_cleanup' EXIT
start_ssh_agent() {
  [ -n "$ssh_agent_pid" ] && kill "$ssh_agent_pid" 2>/dev/null && wait "$ssh_agent_pid" 2>/dev/null
  rm -f "$work/agent.sock"
  # exec: $! is the agent (under timeout, so it stops by itself whatever happens).
  (app exec timeout 600 ssh-agent -d -a "$work/agent.sock" "$@" >"$work/ssh-agent.log" 2>&1) &
  ssh_agent_pid=$!
  local n
  for n in $(seq 1 100); do [ -S "$work/agent.sock" ] && return 0; sleep 0.05; done
  return 1
}
# ssh-add asks for the PIN once and refuses an empty one (OpenSSH 9.2 does
# not look at CKF_PROTECTED_AUTHENTICATION_PATH there): on the cloud token
# the user types the current TOTP code, which the agent keeps for the next
# signature (docs/agent-protocol.md, "Cloud tokens").
if [ -n "$pin" ]; then add_secret="echo $pin"; else add_secret="$SERVICE_CODE_CMD"; fi
printf '#!/bin/sh\necho "$1" >>"%s"\nexec %s\n' "$work/askpass.log" "$add_secret" >"$work/askpass-add"
chmod 700 "$work/askpass-add"
ssh_add() {
  SSH_AUTH_SOCK=$work/agent.sock SSH_ASKPASS=$work/askpass-add SSH_ASKPASS_REQUIRE=force DISPLAY=:none \
    app timeout 120 ssh-add "$@" </dev/null
}
setup "start ssh-agent with its default allow-list" start_ssh_agent
refused() {  # refused for the reason ssh-agent gives, and no key added
  ! ssh_add -s "$module" && grep -q "provider not allowed" "$work/ssh-agent.log" && ! ssh_add -L
}
check "ssh-agent refuses the module from the build tree (outside /usr/lib*, /usr/local/lib*)" refused
setup "start ssh-agent allowing the build tree's library dir" start_ssh_agent -P "$(dirname "$module")/*"
added() {
  : >"$work/askpass.log"
  ssh_add -s "$module" && grep -q "PKCS#11" "$work/askpass.log" ||
    { echo "--- ssh-agent log:"; tail -n 15 "$work/ssh-agent.log"; return 1; }
}
check "ssh-add -s module: the agent loads it (PIN, or TOTP code for the cloud token, through SSH_ASKPASS)" added
listed() {  # ssh-add -L shows the keys ssh-keygen -D showed (a key found by
  # its key object and again by its certificate is listed once per find)
  ssh_add -L >"$work/agent-keys.pub" &&
    diff <(cut -d' ' -f1,2 "$work/keys.pub" | sort -u) <(cut -d' ' -f1,2 "$work/agent-keys.pub" | sort -u)
}
check "ssh-add -L lists the token's RSA and ECDSA keys" listed
for key in "${keys[@]}"; do
  check "ssh logs in through ssh-agent with $key" login "$key" -o IdentityAgent="$work/agent.sock"
done
finish
