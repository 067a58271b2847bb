#!/usr/bin/env bash
# Installs, with apt, everything vtoken needs to build, run and test on
# Debian 12. Idempotent: installs only what is missing.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config
  # libraries
  libssl-dev libcurl4-openssl-dev nlohmann-json3-dev libsqlite3-dev liboath-dev
  libp11-kit-dev libcli11-dev libcpp-httplib-dev libqrencode-dev libinih-dev catch2
  # run time and tests: the HSM, the applications we prove against
  softhsm2 opensc p11-kit sqlite3 oathtool pinentry-curses openssl
  poppler-utils libnss3-tools libengine-pkcs11-openssl gnutls-bin
  # the application scripts (conformance/apps) and the Debian package (cpack, dpkg-shlibdeps)
  curl openjdk-17-jdk-headless openssh-client openssh-server python3 dpkg-dev
  # the browser (conformance/apps/browser.sh): Chromium under Xvfb, typed into with xdotool, nginx
  chromium xvfb xauth xdotool nginx-light jq
  # the Windows key storage provider: cross compiler, and Wine to test it (cng-provider/deps.txt)
  g++-mingw-w64-x86-64 wine64 wine
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
