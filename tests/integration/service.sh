# The reference signing service for integration scripts: source it after
# lib.sh (it uses $build, $scratch, $work). Everything lives under $scratch
# and the service exits with this script (--exit-with-parent) or when
# service_stop is called.
#
#   service_start                 # serve --test-mode on 127.0.0.1:<free port>
#   service_account alice@example.org   # account, password "demo-password"; sets SERVICE_SECRET
#   id=$(service_credential alice@example.org --key p256 --scal 1 --multisign 10)
#   service_code                  # a fresh TOTP code (moves the service clock one step on)
#   service_configure_agent       # [cloud] service_url, ca_file, otp_command in the agent's config
#   service_login                 # vtoken login --no-browser with a fresh code
#   cloud_sign LABEL ECDSA-SHA256 OUT   # pkcs11-tool signs $work/data with that cloud key
#   service_fault '{"drop":true,"path":"/csc/v2/signatures/signHash"}'
#   service_stop
#
# Codes: the service refuses a code of a TOTP step it already accepted
# (replay), so every code needs a new step. Instead of waiting 30 s,
# service_code moves the service clock (/test/clock) one step further and
# computes the code for that moment with oathtool. The step counter lives in
# a file, so the agent's otp_command (a child of the agent) shares it.
#   $SERVICE_CODE_CMD             # that command, for cloud.otp_command
#   echo wrong >"$SERVICE_DIR/code-mode"   # makes it print a wrong code (rm the file to undo)
#   service_clock_jump 2678400    # the service clock 31 days ahead from now on (codes follow it)

service_bin=$build/bin/vtoken-signing-service
SERVICE_DIR=$scratch/service
SERVICE_PASSWORD=demo-password
mkdir -p "$SERVICE_DIR"

svc() { "$service_bin" --data-dir "$SERVICE_DIR/data" "$@"; }

service_start() {
  # The binary itself, not the svc function: a function in the background is
  # a subshell, so $! would not be the service and --exit-with-parent would
  # watch that subshell instead of this script.
  "$service_bin" --data-dir "$SERVICE_DIR/data" serve --listen 127.0.0.1:0 --test-mode --exit-with-parent "$@" \
    >"$SERVICE_DIR/serve.log" 2>&1 &
  SERVICE_PID=$!
  local i
  for i in $(seq 1 300); do
    SERVICE_URL=$(sed -n 's/^listening on \(https:[^ ]*\).*/\1/p' "$SERVICE_DIR/serve.log" | head -n1)
    [ -n "$SERVICE_URL" ] && break
    if ! kill -0 "$SERVICE_PID" 2>/dev/null; then
      echo "service.sh: the signing service did not start:" >&2
      cat "$SERVICE_DIR/serve.log" >&2
      return 1
    fi
    sleep 0.05
  done
  [ -n "$SERVICE_URL" ] || { echo "service.sh: no listening line from the service" >&2; return 1; }
  SERVICE_CA=$SERVICE_DIR/data/ca.pem
  echo 0 >"$SERVICE_DIR/step"
  # The code command: one shell line the agent (or a script) can run.
  SERVICE_CODE_CMD="$SERVICE_DIR/code.sh"
  cat >"$SERVICE_CODE_CMD" <<EOF
#!/usr/bin/env bash
# Prints a fresh TOTP code for the demo account (moves the service clock a step).
set -euo pipefail
# "wrong" in code-mode: a wrong code (tests of CKR_PIN_INCORRECT).
if [ "\$(cat "$SERVICE_DIR/code-mode" 2>/dev/null)" = wrong ]; then echo 000000; exit 0; fi
exec 9>"$SERVICE_DIR/step.lock"
flock 9
step=\$((\$(cat "$SERVICE_DIR/step") + 1))
echo "\$step" >"$SERVICE_DIR/step"
offset=\$((\$(cat "$SERVICE_DIR/clock-base" 2>/dev/null || echo 0) + step * 30))
curl -sf --cacert "$SERVICE_CA" -X POST -H 'Content-Type: application/json' \
  -d "{\"offset_seconds\": \$offset}" "$SERVICE_URL/test/clock" >/dev/null || true  # a dead service: the code is still printed
oathtool --totp -b "\$(cat "$SERVICE_DIR/secret")" --now "@\$((\$(date +%s) + offset))"
EOF
  chmod 700 "$SERVICE_CODE_CMD"
  export SERVICE_URL SERVICE_CA SERVICE_PID SERVICE_CODE_CMD
}

service_stop() {
  [ -n "${SERVICE_PID:-}" ] || return 0
  kill "$SERVICE_PID" 2>/dev/null
  wait "$SERVICE_PID" 2>/dev/null
  SERVICE_PID=
}

# service_account EMAIL: an account with password $SERVICE_PASSWORD; its TOTP
# secret goes to $SERVICE_SECRET (and the file service_code reads).
service_account() {
  local json
  json=$(printf '%s\n' "$SERVICE_PASSWORD" | svc account create --email "$1" --password-stdin --json --scrypt-n 1024) || return 1
  SERVICE_SECRET=$(printf '%s' "$json" | sed -n 's/.*"secret" *: *"\([A-Z2-7=]*\)".*/\1/p')
  [ -n "$SERVICE_SECRET" ] || { echo "service.sh: no secret in: $json" >&2; return 1; }
  printf '%s' "$SERVICE_SECRET" >"$SERVICE_DIR/secret"
  SERVICE_EMAIL=$1
  export SERVICE_SECRET SERVICE_EMAIL
}

# service_credential EMAIL [credential issue options...]: prints the credential ID.
service_credential() {
  local email=$1
  shift
  svc credential issue --email "$email" --json "$@" | sed -n 's/.*"credentialID" *: *"\([^"]*\)".*/\1/p'
}

service_code() { "$SERVICE_CODE_CMD"; }

service_post() {  # service_post PATH JSON
  curl -sf --cacert "$SERVICE_CA" -X POST -H 'Content-Type: application/json' -d "$2" "$SERVICE_URL$1"
}
service_fault() { service_post /test/fault "$1"; }
# service_clock_jump SECONDS: moves the service clock SECONDS ahead of real
# time (plus the steps the codes took), for expiry; later codes follow it.
service_clock_jump() {
  echo "$1" >"$SERVICE_DIR/clock-base"
  service_post /test/clock "{\"offset_seconds\": $(($1 + $(cat "$SERVICE_DIR/step") * 30))}" >/dev/null
}

# service_configure_agent [extra INI lines...]: the agent's config file with
# the [cloud] section for this service; the code command is the default
# authorization source unless the extra lines say otherwise.
service_configure_agent() {
  mkdir -p "$XDG_CONFIG_HOME/vtoken"
  {
    echo "[cloud]"
    echo "service_url = $SERVICE_URL"
    echo "ca_file = $SERVICE_CA"
    echo "otp_command = $SERVICE_CODE_CMD"
    echo "authorization = command"
    local line
    for line in "$@"; do echo "$line"; done
  } >"$XDG_CONFIG_HOME/vtoken/vtoken.conf"
}

# cloud_key_id LABEL: the CKA_ID of the cloud token's private key with that
# label (pkcs11-tool --sign picks keys by --id only).
cloud_key_id() {
  p11 --token-label "$SERVICE_EMAIL" --login --list-objects --type privkey |
    awk -v l="$1" '$1 == "label:" {found = ($2 == l)} found && $1 == "ID:" {print $2; exit}'
}
# cloud_sign LABEL MECHANISM OUT [pkcs11-tool options...]: signs $work/data
# with the cloud key of that label.
cloud_sign() {
  local label=$1 mech=$2 out=$3
  shift 3
  p11 --token-label "$SERVICE_EMAIL" --login --sign --id "$(cloud_key_id "$label")" -m "$mech" -i "$work/data" -o "$out" "$@"
}

# service_login [vtoken login options...]: logs the agent in without a browser.
service_login() {
  printf '%s\n' "$SERVICE_PASSWORD" |
    "$vtoken" login --no-browser --email "$SERVICE_EMAIL" --password-stdin --otp "$(service_code)" "$@"
}

# service_pinentry: writes $SERVICE_PINENTRY, a scripted pinentry (a real
# Assuan peer, as pinentry-curses is) that answers GETPIN with a fresh code
# from service_code, or cancels when $SERVICE_DIR/pinentry-mode says
# "cancel" ("wait": answers only once $SERVICE_DIR/pinentry-release exists). Every command it receives is appended to $SERVICE_DIR/pinentry.log.
service_pinentry() {
  SERVICE_PINENTRY=$SERVICE_DIR/pinentry
  echo code >"$SERVICE_DIR/pinentry-mode"
  cat >"$SERVICE_PINENTRY" <<EOF2
#!/usr/bin/env bash
echo "OK Pleased to meet you"
while IFS= read -r line; do
  printf '%s\n' "\$line" >>"$SERVICE_DIR/pinentry.log"
  case "\$line" in
    GETPIN)
      mode=\$(cat "$SERVICE_DIR/pinentry-mode")
      if [ "\$mode" = wait ]; then  # a person who takes their time: until pinentry-release exists
        while [ ! -e "$SERVICE_DIR/pinentry-release" ]; do sleep 0.1; done
      fi
      if [ "\$mode" = cancel ]; then
        echo "ERR 83886179 Operation cancelled <Pinentry>"
      else
        echo "D \$("$SERVICE_CODE_CMD")"
        echo OK
      fi ;;
    BYE) echo "OK closing connection"; exit 0 ;;
    *) echo OK ;;
  esac
done
EOF2
  chmod 700 "$SERVICE_PINENTRY"
  export SERVICE_PINENTRY
}
