#!/usr/bin/env bash
# Browser TLS client authentication, the way a user logs in to a portal with
# a smart card: nginx on 127.0.0.1 with `ssl_verify_client on` (trusting the
# CA of the token's certificates), a server per key and TLS version, serves a
# page whose title is the TLS version and the verified client certificate's
# serial and subject. Chromium (under Xvfb; its NSS database is ~/.pki/nssdb,
# where `vtoken register` put the module, with the server's CA trusted) opens
# each URL; a managed AutoSelectCertificateForUrls policy names the key's
# certificate. Each key over TLS 1.2 and TLS 1.3 (TLS 1.3: RSA-PSS).
#
# What a person does is typed with xdotool: NSS asks for the token's PIN
# through Chromium's "Unlock Security Device" dialog (emulated: a wrong PIN
# first, the dialog must come back, then the right one). The cloud token has
# a protected authentication path, yet Chromium shows the same dialog and
# takes an empty entry for Cancel: the person types the authenticator code;
# NSS logs in without passing it on, and the agent asks for the code through
# its own prompt, pinentry (the scripted Assuan pinentry of
# tests/integration/service.sh answers it and logs what it was asked). The
# cloud token's two certificates have the same subject, so the policy cannot
# tell them apart: it covers ec-key (first in Chromium's order: lib.sh gives
# its certificate the longer validity) and for rsa-key the person picks the
# second row of Chromium's certificate selection dialog (Down, Return).
#
# What Chromium shows is read from its DevTools HTTP endpoint (/json/list:
# each tab's URL and title), what nginx verified from its access log. NSS's
# tstclnt with a password file is a second client.
#
# The policy: Chromium on Linux reads managed policies only from
# /etc/chromium/policies/managed/ (the command-line policy switch is
# Android-only), so the script writes a uniquely named file there with rules
# for its own ports only and removes it on exit (stale files of killed runs
# are removed first); CTest runs the browser tests one at a time
# (RESOURCE_LOCK). As non-root the script needs write access there.
apps_cloud_pinentry=1  # lib.sh: the cloud agent asks for codes through pinentry
source "$(dirname "$0")/lib.sh"
for tool in nginx chromium Xvfb xdotool tstclnt; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/install-deps.sh)"
done
setup_token
nssdb=$HOME/.pki/nssdb
setup "TLS server certificate for 127.0.0.1" server_cert server
setup "trust the server's CA in ~/.pki/nssdb" app certutil -A -d "sql:$nssdb" -n apps-server-ca -t "C,," \
  -i "$work/server-ca.pem"

# Xvfb, nginx and Chromium run in sessions of their own under `timeout`, so
# they stop by themselves even if this script is killed; on exit their
# process groups are killed.
browser_pids=()
policy_file=""
policy_dir=/etc/chromium/policies/managed
browser_cleanup() {
  local pid
  for pid in "${browser_pids[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null; done
  [ -n "$policy_file" ] && rm -f "$policy_file" "$policy_file.tmp"
  [ -n "${VTOKEN_KEEP:-}" ] && cp -r "$scratch" "$VTOKEN_KEEP"
  apps_cleanup
}
trap browser_cleanup EXIT
trap "exit 143" TERM INT HUP  # the EXIT trap runs on these too

# A random port; nginx cannot report a kernel-chosen one, so start_nginx
# retries with others when one is taken.
free_port() { echo $((20000 + SRANDOM % 40000)); }

# --- X server: Xvfb picks a free display and writes its number to fd 3 ---
start_xvfb() {
  setsid timeout 600 Xvfb -displayfd 3 -nolisten tcp -screen 0 1280x900x24 3>"$work/display" >"$work/xvfb.log" 2>&1 &
  browser_pids+=($!)
  local i
  for i in $(seq 1 100); do
    [ -s "$work/display" ] && break
    sleep 0.05
  done
  [ -s "$work/display" ] || return 1
  export DISPLAY=:$(head -n1 "$work/display")
}
setup "Xvfb on a free display" start_xvfb

# --- nginx: a server per key and TLS version, so that the policy can name
# the certificate for each URL; the page's title is what nginx verified ---
cases=()  # "KEY VERSION"
for key in "${keys[@]}"; do
  for version in tls1_2 tls1_3; do cases+=("$key $version"); done
done
declare -A port_of
mkdir -p "$work/nginx/tmp"
nginx_conf() {
  local n=$work/nginx c
  cat <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $n/nginx.pid;
error_log $n/error.log info;
events { worker_connections 64; }
http {
  log_format apps '\$server_port \$ssl_protocol \$ssl_cipher verify=\$ssl_client_verify serial=\$ssl_client_serial "\$ssl_client_s_dn" \$status';
  access_log $n/access.log apps;
  client_body_temp_path $n/tmp; proxy_temp_path $n/tmp; fastcgi_temp_path $n/tmp;
  uwsgi_temp_path $n/tmp; scgi_temp_path $n/tmp;
  ssl_certificate $work/server.pem;
  ssl_certificate_key $work/server.key;
  ssl_client_certificate $work/ca.pem;
  ssl_verify_client on;
  ssl_verify_depth 2;
  ssl_session_tickets off;
  default_type text/html;
CONF
  for c in "${cases[@]}"; do
    printf '  server { listen 127.0.0.1:%s ssl; ssl_protocols %s; location / { return 200 "%s"; } }\n' \
      "${port_of[$c]}" "$(proto_of "${c#* }")" \
      '<!DOCTYPE html><title>apps-ok $ssl_protocol $ssl_client_verify $ssl_client_serial $ssl_client_s_dn</title>\n'
  done
  echo "}"
}
proto_of() { [ "$1" = tls1_2 ] && echo TLSv1.2 || echo TLSv1.3; }
start_nginx() {
  local try i c up
  for try in 1 2 3 4 5; do
    for c in "${cases[@]}"; do port_of[$c]=$(free_port); done
    [ "$(printf '%s\n' "${port_of[@]}" | sort -u | wc -l)" -eq "${#cases[@]}" ] || continue
    nginx_conf >"$work/nginx/nginx.conf"
    setsid timeout 600 nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" >"$work/nginx/out.log" 2>&1 </dev/null &
    nginx_pid=$!
    for i in $(seq 1 100); do
      up=0
      for c in "${cases[@]}"; do (echo >"/dev/tcp/127.0.0.1/${port_of[$c]}") 2>/dev/null && up=$((up + 1)); done
      if [ "$up" -eq "${#cases[@]}" ]; then
        browser_pids+=("$nginx_pid")
        return 0
      fi
      kill -0 "$nginx_pid" 2>/dev/null || break
      sleep 0.05
    done
    kill "$nginx_pid" 2>/dev/null
    wait "$nginx_pid" 2>/dev/null
  done
  cat "$work/nginx/error.log" "$work/nginx/out.log"
  return 1
}
setup "nginx on 127.0.0.1 (a server per key and TLS version, ssl_verify_client on)" start_nginx
for c in "${cases[@]}"; do step "nginx: ${c% *} over $(proto_of "${c#* }") at https://127.0.0.1:${port_of[$c]}/"; done

# expected KEY VERSION: the page title when nginx verified KEY's certificate.
dn_of() { openssl x509 -in "$work/$1.pem" -noout -subject -nameopt RFC2253 | sed 's/^subject=//'; }
serial_of() { openssl x509 -in "$work/$1.pem" -noout -serial | sed 's/^serial=//'; }
expected() { echo "apps-ok $(proto_of "$2") SUCCESS $(serial_of "$1") $(dn_of "$1")"; }
# nginx_saw KEY VERSION: its access log has the verified certificate at that port.
nginx_saw() {
  local c="$1 $2" line
  line=$(grep "^${port_of[$c]} " "$work/nginx/access.log" | tail -n1)
  echo "nginx: $line"
  [[ $line == "${port_of[$c]} $(proto_of "$2") "*" verify=SUCCESS serial=$(serial_of "$1") \"$(dn_of "$1")\" 200" ]]
}

# --- tstclnt: NSS's test client, the PIN in a password file ---
# The cloud token: tstclnt insists on some password; NSS does not pass it to
# a token with a protected authentication path (the agent's pinentry asks).
printf '%s\n' "${pin:-protected-path}" >"$work/nss-pwd"
printf '%s\n' "${wrong_pin:-}" >"$work/nss-wrong-pwd"
chmod 600 "$work/nss-pwd" "$work/nss-wrong-pwd"
printf 'GET /tstclnt HTTP/1.0\r\n\r\n' >"$work/request"
tstclnt_client() {  # KEY VERSION [PASSWORD_FILE]
  local v=${2#tls} sigs=ecdsa_secp256r1_sha256
  v=${v/_/.}
  [ "$1" = rsa-key ] && sigs=rsa_pss_rsae_sha256,$sigs  # PSS only: TLS 1.2 too
  app timeout 60 tstclnt -h 127.0.0.1 -p "${port_of[$1 $2]}" -d "sql:$nssdb" -n "$label:$1" \
    -W "${3:-$work/nss-pwd}" -V "tls$v:tls$v" -J "$sigs" -A "$work/request" >"$work/tstclnt.out" 2>&1
  cat "$work/tstclnt.out"
  grep -qF "<title>$(expected "$1" "$2")</title>" "$work/tstclnt.out" && nginx_saw "$1" "$2"
}

# --- Chromium ---
# Which certificate Chromium takes: the policy's filter names the subject's
# CN. The cloud token's certificates both have the account as subject, so
# no filter tells them apart; Chromium then takes the first match in its
# own order (longest validity first): lib.sh issues ec-key for 2 years,
# rsa-key for 1, so the policy covers the ec-key URLs only and for rsa-key
# the person picks the second certificate in Chromium's selection dialog.
declare -A pick_row  # KEY -> row in the selection dialog (no policy for its URLs)
if [ "$(cn_of rsa-key)" = "$(cn_of ec-key)" ]; then
  pick_row[rsa-key]=2
  [ "$(openssl x509 -in "$work/ec-key.pem" -noout -enddate | cut -d= -f2 | date -f - +%s)" -gt \
    "$(openssl x509 -in "$work/rsa-key.pem" -noout -enddate | cut -d= -f2 | date -f - +%s)" ] ||
    die "ec-key's certificate must outlive rsa-key's (Chromium's order)"
fi
write_policy() {
  mkdir -p "$policy_dir" || return 1
  # Files of runs that were killed (their pid is gone) go first.
  local f pid c rules=()
  for f in "$policy_dir"/vtoken-apps-*.json; do
    [ -e "$f" ] || continue
    pid=${f##*-}
    pid=${pid%.json}
    kill -0 "$pid" 2>/dev/null || rm -f "$f"
  done
  for c in "${cases[@]}"; do
    [ -n "${pick_row[${c% *}]:-}" ] || rules+=("https://127.0.0.1:${port_of[$c]}" "$(cn_of "${c% *}")")
  done
  policy_file=$policy_dir/vtoken-apps-$(date +%s%N)-$$.json
  # The policy's value is a list of JSON strings, each a rule.
  printf '%s\n' "${rules[@]}" |
    jq -R -n '[inputs] as $a | {AutoSelectCertificateForUrls: [range(0; $a | length; 2) as $i |
      {pattern: $a[$i], filter: {SUBJECT: {CN: $a[$i + 1]}}} | tojson]}' >"$policy_file.tmp" &&
    mv "$policy_file.tmp" "$policy_file"
}
setup "managed policy AutoSelectCertificateForUrls in $policy_dir" write_policy
step "policy $policy_file: $(jq -r '.AutoSelectCertificateForUrls | map(fromjson | "\(.pattern) CN=\(.filter.SUBJECT.CN)") | join(", ")' "$policy_file")"

profile=$work/chromium
devtools() {  # PATH [METHOD]: a request to Chromium's DevTools HTTP endpoint
  local devport
  devport=$(head -n1 "$profile/DevToolsActivePort" 2>/dev/null) || return 1
  curl -s --max-time 5 -X "${2:-GET}" "http://127.0.0.1:$devport$1"
}
# page_title URL: the title of Chromium's tab showing URL.
page_title() {
  devtools /json/list | jq -r --arg url "$1" 'first(.[] | select(.type == "page" and .url == $url) | .title) // ""' 2>/dev/null
}
start_chromium() {
  mkdir -p "$profile"
  local flags=(--user-data-dir="$profile" --no-first-run --no-default-browser-check --disable-gpu
    --disable-dev-shm-usage --disable-background-networking --disable-component-update --disable-sync
    --password-store=basic --remote-debugging-port=0 --window-size=1000,700)
  [ "$(id -u)" -eq 0 ] && flags+=(--no-sandbox)
  setsid timeout 300 chromium "${flags[@]}" about:blank >"$profile.log" 2>&1 </dev/null &
  chrome_pid=$!
  browser_pids+=("$chrome_pid")
  local i
  for i in $(seq 1 300); do
    devtools /json/version | grep -q Browser && return 0
    kill -0 "$chrome_pid" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 20 "$profile.log"
  return 1
}
setup "Chromium (user data dir and HOME of this test, DevTools on 127.0.0.1)" start_chromium

# What a person types: the PIN into the token's dialog (emulated: first a
# wrong one, which must bring the dialog back); the certificate's row in the
# selection dialog.
pins=()
[ -n "$pin" ] && pins=("$wrong_pin" "$pin")
dialogs=0
last_dialog=0
answered=" "
# Every xdotool call is bounded: --sync waits for X events that may never come.
xdo() { timeout 10 xdotool "$@"; }
focus() { xdo windowfocus --sync "$1" || { echo "could not focus window $1 (typing anyway)"; xdo windowfocus "$1"; }; }
type_into() {  # WINDOW TEXT
  focus "$1"
  printf '%s' "$2" | xdo type --delay 15 --file - && xdo key Return
}
answer_dialogs() {  # KEY
  local w name
  for w in $(xdo search --onlyvisible --name '.' 2>/dev/null); do
    [[ $answered == *" $w "* ]] && continue
    name=$(xdo getwindowname "$w" 2>/dev/null)
    case $name in
      *"Security Device"* | *"security device"*)
        answered+="$w "
        dialogs=$((dialogs + 1))
        last_dialog=$SECONDS
        if [ -n "$pin" ]; then
          local p=${pins[$((dialogs - 1))]:-$pin}
          echo "dialog '$name': typing the $([ "$p" = "$pin" ] && echo right || echo wrong) PIN"
          type_into "$w" "$p"
        else
          # The cloud token: Chromium takes an empty entry for Cancel, so the
          # person types the code their authenticator shows.
          echo "dialog '$name': typing a code from the authenticator"
          type_into "$w" "$(service_code)"
        fi ;;
      *"certificate"* | *"Certificate"*)
        [ -n "${pick_row[$1]:-}" ] || continue
        answered+="$w "
        echo "dialog '$name': picking row ${pick_row[$1]}"
        focus "$w"
        for _ in $(seq 2 "${pick_row[$1]}"); do xdo key Down; done
        xdo key Return ;;
    esac
  done
  return 0
}
# browser KEY VERSION: Chromium opens the URL in a new tab; the page must
# come with the expected title, nginx must have verified the certificate.
browser() {
  local c="$1 $2" url title="" want deadline=$((SECONDS + 60))
  url=https://127.0.0.1:${port_of[$c]}/
  want=$(expected "$1" "$2")
  devtools "/json/new?$url" PUT >/dev/null || { echo "DevTools did not open $url"; return 1; }
  local picked=$SECONDS
  while [ "$SECONDS" -lt "$deadline" ]; do
    answer_dialogs "$1"
    # The selection dialog is drawn inside the browser window (no X window
    # of its own to wait for). It comes after the token's dialog (NSS logs
    # in to list the token's certificates): 2 s after that one was answered
    # and with no token dialog up, pick the row with the keys; again every
    # 4 s while the page has not come (with two rows, Down stays on the
    # second). Keys pressed earlier could land in the token's dialog.
    if [ -n "${pick_row[$1]:-}" ] && [ "$dialogs" -ge 1 ] && [ $((SECONDS - last_dialog)) -ge 2 ] &&
      [ $((SECONDS - picked)) -ge 3 ] && ! xdo search --onlyvisible --name 'Security Device' >/dev/null 2>&1; then
      picked=$((SECONDS + 1))
      local main
      main=$(xdo search --onlyvisible --name ' - Chromium$' 2>/dev/null | head -n1)
      echo "selection dialog in window '$(xdo getwindowname "$main")': row ${pick_row[$1]} (Down, Return)"
      focus "$main"
      for _ in $(seq 2 "${pick_row[$1]}"); do xdo key Down; done
      xdo key Return
    fi
    title=$(page_title "$url")
    [[ $title == apps-ok* || $title == 400* ]] && break
    kill -0 "$chrome_pid" 2>/dev/null || { echo "Chromium exited"; break; }
    sleep 0.1
  done
  echo "page title: $title"
  if [ "$title" != "$want" ]; then
    echo "expected: $want"
    echo "windows:"
    xdo search --onlyvisible --name '.' 2>/dev/null | while read -r w; do echo "  $w $(xdo getwindowname "$w")"; done
    echo "focus: $(xdo getwindowfocus)"
    grep -v -e dbus/ -e zygote -e gpu_ -e crashpad "$profile.log" | tail -n 8
    return 1
  fi
  nginx_saw "$1" "$2"
}

for c in "${cases[@]}"; do
  key=${c% *} version=${c#* }
  how="policy"
  [ -n "${pick_row[$key]:-}" ] && how="picked in the selection dialog"
  check "Chromium, $key ($how), $(proto_of "$version"): the page shows the client certificate nginx verified" \
    browser "$key" "$version"
done
if [ -n "$pin" ]; then
  check "Chromium asked for the PIN in its dialog again after the wrong one, then took the right one ($dialogs dialogs)" \
    test "$dialogs" -eq 2
else
  # Chromium shows its dialog for the cloud token too and takes an empty
  # entry for Cancel; NSS then logs in without a PIN (protected path: what
  # was typed is not passed on) and the agent's own prompt asks for the code.
  check "Chromium's token dialog came up for the cloud token and took a typed code ($dialogs dialogs)" test "$dialogs" -ge 1
  expect_output "the agent asked for the code through pinentry, naming Chromium and the certificate" \
    "SETDESC .*chrom.*apps@example.org" cat "$SERVICE_DIR/pinentry.log"
fi
kill -- "-$chrome_pid" 2>/dev/null
wait "$chrome_pid" 2>/dev/null

for c in "${cases[@]}"; do
  key=${c% *} version=${c#* }
  check "tstclnt (NSS, password file), $key, $(proto_of "$version"): nginx verified the client certificate" \
    tstclnt_client "$key" "$version"
done
if [ -n "$pin" ]; then
  expect_fail "tstclnt with a wrong PIN in the password file gets no page" tstclnt_client rsa-key tls1_3 "$work/nss-wrong-pwd"
fi
finish
